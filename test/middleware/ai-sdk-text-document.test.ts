import { createAnthropic } from "@ai-sdk/anthropic";
import Anthropic from "@anthropic-ai/sdk";
import { generateText } from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { governModel } from "../../src/middleware/ai-sdk/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README: "Only conversation text is scanned and redacted (… and the text of plain-text
 * documents)". An AI SDK inline text file (LanguageModelV4 `data: { type: "text", text }`) is sent
 * by @ai-sdk/anthropic as an Anthropic plain-text document, and redacted as trust() redacts one.
 */

const EMAIL = "jane.doe@example.com";
const DOCUMENT = `Customer record\nContact: ${EMAIL}\n`;
let server: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  server = await startAnthropicStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("pii: redact, a plain-text document", () => {
  it("control: trust(Anthropic) redacts the document's text", async () => {
    const vault = makeTempVault({ budget: 1_000_000 });
    const sdk = new Anthropic({ apiKey: "t", baseURL: server.url, maxRetries: 0 });
    const client = await trust(sdk, { vaultBase: vault.base, shape: "native", config: { pii: "redact" } });
    cleanups.push(async () => {
      await client.destroy();
      vault.cleanup();
    });
    await client.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 100,
      messages: [
        {
          role: "user",
          content: [
            { type: "document", source: { type: "text", media_type: "text/plain", data: DOCUMENT } },
            { type: "text", text: "Summarise" },
          ],
        },
      ],
    });
    expect(JSON.stringify(server.requests.at(-1)?.body)).not.toContain(EMAIL);
  });

  it("the AI SDK's inline text file reaches Anthropic redacted too", async () => {
    const vault = makeTempVault({ budget: 1_000_000, pii: { mode: "redact", restore: false } });
    const engine = await createEngine({ vaultBase: vault.base });
    cleanups.push(vault.cleanup);
    cleanups.push(() => engine.close());
    const anthropic = createAnthropic({ baseURL: `${server.url}/v1`, apiKey: "test" });
    await generateText({
      model: governModel(anthropic("claude-sonnet-4-5"), engine),
      maxOutputTokens: 100,
      messages: [
        {
          role: "user",
          content: [
            { type: "file", mediaType: "text/plain", data: { type: "text", text: DOCUMENT } },
            { type: "text", text: "Summarise" },
          ],
        },
      ],
    });
    const sent = JSON.stringify(server.requests.at(-1)?.body);
    expect(sent).toContain("Customer record"); // the document did reach the provider
    expect(sent).not.toContain(EMAIL);
  });
});
