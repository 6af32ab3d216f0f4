import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { receiptOf, receiptsOf } from "../../src/adapters/receipt-trail.ts";
import { trust } from "../../src/adapters/trust.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * README "Results": "receiptOf(value) takes any response, stream or helper object a trusted client
 * returned". In the default spec shape a streaming create returns a GovernedStream.
 */
let server: OpenAIStandIn;
beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());

describe("receiptOf on spec-shape results", () => {
  it("receiptOf(stream) answers for the GovernedStream a spec-shaped create returned", async () => {
    const vault = makeTempVault({ budget: 100_000 });
    const client = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "k", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    try {
      const stream = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Hello" }],
        stream: true,
      });
      for await (const _chunk of stream) {
        // drain
      }
      const expected = await stream.receipt;
      await expect(receiptOf(stream)).resolves.toEqual(expected);
      await expect(receiptsOf(stream)).resolves.toEqual([expected]);
    } finally {
      await client.destroy();
      vault.cleanup();
    }
  });
});
