import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { receiptOf } from "../../src/adapters/receipt-trail.ts";
import { trust } from "../../src/adapters/trust.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README, `{ "mode": "redact", "restore": true }`: "placeholders in the answer are replaced by the
 * original values — in whole responses and in stream deltas". beta.messages.thread(...).stream()
 * parses the raw response itself (GovernedApiPromise._responseProps → meteredResponse): the
 * events of that body are restored there, as the SDK's own stream's chunks are.
 */

const EMAIL = "jane.doe@example.com";
const MODEL = "claude-sonnet-4-6";
let server: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  server = await startAnthropicStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function restoringClient() {
  const vault = makeTempVault({ budget: 1_000_000 });
  const sdk = new Anthropic({ apiKey: "t", baseURL: server.url, maxRetries: 0 });
  const client = await trust(sdk, {
    vaultBase: vault.base,
    shape: "native",
    config: { pii: { mode: "redact", restore: true } },
  });
  cleanups.push(async () => {
    await client.destroy();
    vault.cleanup();
  });
  return client;
}

describe("Anthropic pii redact + restore, answers parsed by the SDK's helpers", () => {
  it("messages.stream(): the final text is restored (for comparison)", async () => {
    const client = await restoringClient();
    server.setBehaviour({ reply: "I will write to [EMAIL_1] today." });
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 100,
      messages: [{ role: "user", content: `Please email ${EMAIL}` }],
    });
    expect(await stream.finalText()).toBe(`I will write to ${EMAIL} today.`);
  });

  it("beta.messages.thread().stream(): the final text is restored", async () => {
    const client = await restoringClient();
    server.setBehaviour({ reply: "I will write to [EMAIL_1] today." });
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    const stream = thread.stream({ role: "user", content: `Please email ${EMAIL}` });
    const text = await stream.finalText();
    // The provider got the placeholder…
    expect(JSON.stringify(server.requests.at(-1)?.body)).not.toContain(EMAIL);
    // …and the caller should get the value back.
    expect(text).toBe(`I will write to ${EMAIL} today.`);
  });

  it("beta.messages.thread().stream(): a streamed tool input is restored and still parses", async () => {
    const client = await restoringClient();
    server.setBehaviour({ toolUse: { name: "send_mail", input: { to: "[EMAIL_1]", note: "hi" } } });
    const thread = client.beta.messages.thread({
      model: MODEL,
      max_tokens: 100,
      tools: [{ name: "send_mail", input_schema: { type: "object" } }],
    });
    const stream = thread.stream({ role: "user", content: `Please email ${EMAIL}` });
    const message = await stream.finalMessage();
    expect(message.content).toEqual([
      expect.objectContaining({ type: "tool_use", input: { to: EMAIL, note: "hi" } }),
    ]);
  });

  it("beta.messages.thread().stream(): the call is metered as the provider sent it", async () => {
    const client = await restoringClient();
    server.setBehaviour({ reply: "I will write to [EMAIL_1] today.", outputTokens: 9 });
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    const stream = thread.stream({ role: "user", content: `Please email ${EMAIL}` });
    await stream.finalText();
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({ settled: true, usageSource: "provider" });
    expect(receipt.usage.outputTokens).toBe(9);
  });

  it("beta.messages.thread().send(): the reply is restored", async () => {
    const client = await restoringClient();
    server.setBehaviour({ reply: "I will write to [EMAIL_1] today." });
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    const reply = await thread.send({ role: "user", content: `Please email ${EMAIL}` });
    expect(reply.content).toEqual([{ type: "text", text: `I will write to ${EMAIL} today.` }]);
  });
});

/** Serves one Anthropic message stream whose text arrives as `deltas`, each its own SSE event. */
async function splitDeltaServer(deltas: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", async () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const message = {
        id: "msg_1",
        type: "message",
        role: "assistant",
        model: MODEL,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 10, output_tokens: 1 },
      };
      const events: Array<[string, unknown]> = [
        ["message_start", { type: "message_start", message }],
        [
          "content_block_start",
          { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
        ],
        ["ping", { type: "ping" }],
        ...deltas.map((text): [string, unknown] => [
          "content_block_delta",
          { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } },
        ]),
        ["content_block_stop", { type: "content_block_stop", index: 0 }],
        [
          "message_delta",
          {
            type: "message_delta",
            delta: { stop_reason: "end_turn", stop_sequence: null },
            usage: { output_tokens: 7 },
          },
        ],
        ["message_stop", { type: "message_stop" }],
      ];
      // One event at a time, so the body arrives in one read per event.
      for (const [event, data] of events) {
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      res.end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("beta.messages.thread().stream() with a placeholder split across events", () => {
  async function threadStreamText(deltas: string[]) {
    const split = await splitDeltaServer(deltas);
    cleanups.push(() => split.close());
    const vault = makeTempVault({ budget: 1_000_000 });
    const sdk = new Anthropic({ apiKey: "t", baseURL: split.url, maxRetries: 0 });
    const client = await trust(sdk, {
      vaultBase: vault.base,
      shape: "native",
      config: { pii: { mode: "redact", restore: true } },
    });
    cleanups.push(async () => {
      await client.destroy();
      vault.cleanup();
    });
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    const stream = thread.stream({ role: "user", content: `Please email ${EMAIL}` });
    const texts: string[] = [];
    stream.on("text", (text) => texts.push(text));
    const final = await stream.finalText();
    return { texts, final, receipt: await receiptOf(stream) };
  }

  it("holds the start back until the placeholder is complete", async () => {
    const { texts, final, receipt } = await threadStreamText(["I will write to [EMA", "IL_1] to", "day."]);
    expect(final).toBe(`I will write to ${EMAIL} today.`);
    expect(texts.join("")).toBe(final);
    expect(texts.some((text) => text.includes("["))).toBe(false);
    expect(receipt.usage.outputTokens).toBe(7);
  });

  it("a reply cut off mid-placeholder ends with what was held back", async () => {
    const { final } = await threadStreamText(["Write to [EMA"]);
    expect(final).toBe("Write to [EMA");
  });
});
