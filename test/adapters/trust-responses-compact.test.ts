import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/** responses.compact runs the model over a conversation: governed like responses.create (README table). */
let openai: OpenAIStandIn;
beforeAll(async () => {
  openai = await startOpenAIStandIn();
});
afterAll(async () => {
  await openai.close();
});

describe("responses.compact", () => {
  it("OpenAI responses.compact (runs the model on a conversation) is governed: refused before sending over budget", async () => {
    const vault = makeTempVault({ budget: 0 });
    const client = await trust(new OpenAI({ baseURL: `${openai.url}/v1`, apiKey: "k", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    const before = openai.requests.length;
    await client.responses
      .compact({ model: "gpt-4o-mini", input: [{ role: "user", content: "Summarise our chat." }] } as never)
      .catch(() => undefined);
    const sent = openai.requests.slice(before).map((r) => `${r.method} ${r.path}`);
    await client.destroy();
    vault.cleanup();
    expect(sent).toEqual([]);
  });
});
