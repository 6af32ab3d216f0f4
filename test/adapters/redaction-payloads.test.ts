import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README "PII, secrets and prompt injection": in redact mode "the provider receives a copy in which
 * each value is a typed placeholder"; "Only conversation text is scanned and redacted (messages,
 * system prompts, tool calls and results)". A tool call's arguments are conversation text whatever
 * their keys are called; a key named `data`, `url`, `name`, `id` or `type` inside a tool input must
 * not let the value through.
 */

let anthropic: AnthropicStandIn;
let google: GoogleStandIn;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  anthropic = await startAnthropicStandIn();
  google = await startGoogleStandIn();
});
afterAll(async () => {
  await anthropic.close();
  await google.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const EMAIL = "jane.doe@example.com";
const CARD = "4111 1111 1111 1111";

describe("redact mode: tool-call arguments whose keys look like ids", () => {
  it("Anthropic tool_use input with keys `data`, `url`, `name`: no value reaches the provider", async () => {
    const vault = makeTempVault({ budget: 100_000, pii: { mode: "redact", restore: false } });
    cleanups.push(vault.cleanup);
    const client = await trust(new Anthropic({ baseURL: anthropic.url, apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    cleanups.push(() => client.destroy());
    await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 50,
      messages: [
        { role: "user", content: "Save the customer." },
        {
          role: "assistant",
          content: [
            {
              type: "tool_use",
              id: "toolu_01",
              name: "save_customer",
              input: { name: EMAIL, data: `card ${CARD}`, url: `mailto:${EMAIL}` },
            },
          ],
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_01", content: "saved" }] },
      ],
    });
    const sent = JSON.stringify(anthropic.requests.at(-1)?.body);
    expect(sent).not.toContain(EMAIL);
    expect(sent).not.toContain(CARD);
  });

  it("Anthropic plain-text document: scanned, and the receipt says it was replaced, so it must not be sent as is", async () => {
    const vault = makeTempVault({ budget: 100_000, pii: { mode: "redact", restore: false } });
    cleanups.push(vault.cleanup);
    const client = await trust(new Anthropic({ baseURL: anthropic.url, apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    cleanups.push(() => client.destroy());
    const { receipt } = await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 50,
      messages: [
        {
          role: "user",
          content: [
            {
              type: "document",
              source: { type: "text", media_type: "text/plain", data: `Contact: ${EMAIL}` },
            },
            { type: "text", text: "Summarise the document." },
          ],
        },
      ],
    });
    expect(receipt.warnings).toContain("personal data replaced by placeholders before sending: 1 email");
    expect(JSON.stringify(anthropic.requests.at(-1)?.body)).not.toContain(EMAIL);
  });

  it("Gemini functionResponse whose result sits under `response.data`: no value reaches the provider", async () => {
    const vault = makeTempVault({ budget: 100_000, pii: { mode: "redact", restore: false } });
    cleanups.push(vault.cleanup);
    const client = await trust(new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: google.url } }), {
      vaultBase: vault.base,
    });
    cleanups.push(() => client.destroy());
    await client.models.generateContent({
      model: "gemini-2.5-flash",
      contents: [
        { role: "user", parts: [{ text: "Who is customer 7?" }] },
        { role: "model", parts: [{ functionCall: { name: "get_customer", args: { id: 7 } } }] },
        {
          role: "user",
          parts: [{ functionResponse: { name: "get_customer", response: { data: { email: EMAIL } } } }],
        },
      ],
    });
    const sent = JSON.stringify(google.requests.at(-1)?.body);
    expect(sent).toContain("[EMAIL_1]");
    expect(sent).not.toContain(EMAIL);
  });
});
