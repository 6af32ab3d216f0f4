import Anthropic from "@anthropic-ai/sdk";
import { betaTool } from "@anthropic-ai/sdk/helpers/beta/json-schema";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { receiptOf, receiptsOf } from "../../src/adapters/receipt-trail.ts";
import { trust } from "../../src/adapters/trust.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README "Results": "`receiptOf(value)` takes any response, stream or helper object a trusted client
 * returned and resolves once its call has settled or been released … (for a helper, the last
 * request's receipt)"; a helper that made no call rejects "instead of waiting for a call that will
 * never come". A message thread is driven turn by turn from the caller's code, long after
 * `beta.messages.thread()` returned: its receipts are those of its turns.
 */

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

const MODEL = "claude-sonnet-4-6";
const WAIT_MS = 2_000;

const within = <T>(promise: Promise<T>, ms = WAIT_MS) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms),
    ),
  ]);

async function nativeClient() {
  const vault = makeTempVault({ budget: 1_000_000 });
  const sdk = new Anthropic({ apiKey: "t", baseURL: server.url, maxRetries: 0 });
  const client = await trust(sdk, { vaultBase: vault.base, shape: "native" });
  cleanups.push(async () => {
    await client.destroy();
    vault.cleanup();
  });
  return client;
}

describe("receiptOf(thread)", () => {
  it("resolves with the last send's receipt instead of hanging", async () => {
    const client = await nativeClient();
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    const reply = await thread.send({ role: "user", content: "Hello" });
    const last = await receiptOf(reply);
    await expect(within(receiptOf(thread))).resolves.toEqual(last);
  });

  it("receiptsOf(thread) holds every turn, in order", async () => {
    const client = await nativeClient();
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    const first = await thread.send({ role: "user", content: "Hello" });
    const second = await thread.send({ role: "user", content: "And again" });
    const receipts = await within(receiptsOf(thread));
    expect(receipts).toEqual([await receiptOf(first), await receiptOf(second)]);
    expect(receipts[0]?.transferId).not.toBe(receipts[1]?.transferId);
  });

  it("rejects with NO_RECEIPT before any turn", async () => {
    const client = await nativeClient();
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    await expect(within(receiptOf(thread))).rejects.toMatchObject({ code: "NO_RECEIPT" });
  });

  it("waits for a turn still being authorized", async () => {
    const client = await nativeClient();
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    const sending = thread.send({ role: "user", content: "Hello" });
    const receipt = await within(receiptOf(thread));
    expect(receipt).toEqual(await receiptOf(await sending));
    expect(receipt.settled).toBe(true);
  });

  it("a turn's stream() answers receiptOf, and is the thread's latest turn", async () => {
    const client = await nativeClient();
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    await thread.send({ role: "user", content: "Hello" });
    const stream = thread.stream({ role: "user", content: "And again" });
    await stream.finalMessage();
    const streamed = await within(receiptOf(stream));
    expect(streamed.settled).toBe(true);
    expect(await within(receiptOf(thread))).toEqual(streamed);
    expect(await within(receiptsOf(thread))).toHaveLength(2);
  });

  it("a fork keeps its own receipts", async () => {
    const client = await nativeClient();
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100 });
    await thread.send({ role: "user", content: "Hello" });
    const fork = thread.fork();
    await expect(within(receiptOf(fork))).rejects.toMatchObject({ code: "NO_RECEIPT" });
    const forked = await fork.send({ role: "user", content: "Elsewhere" });
    expect(await within(receiptOf(fork))).toEqual(await receiptOf(forked));
    expect(await within(receiptsOf(thread))).toHaveLength(1);
  });

  it("a tool runner over the thread: its requests are the runner's and the thread's", async () => {
    const client = await nativeClient();
    server.setBehaviour({ toolUse: { name: "add", input: { a: 1, b: 2 } }, reply: "It is 3." });
    const add = betaTool({
      name: "add",
      description: "Adds two numbers.",
      inputSchema: {
        type: "object",
        properties: { a: { type: "number" }, b: { type: "number" } },
        required: ["a", "b"],
      },
      run: ({ a, b }) => String(a + b),
    });
    const thread = client.beta.messages.thread({ model: MODEL, max_tokens: 100, tools: [add] });
    thread.append({ role: "user", content: "What is 1 + 2?" });
    const runner = thread.toolRunner();
    await runner.runUntilDone();
    const byRunner = await within(receiptsOf(runner));
    expect(byRunner).toHaveLength(2);
    expect(await within(receiptsOf(thread))).toEqual(byRunner);
  });
});
