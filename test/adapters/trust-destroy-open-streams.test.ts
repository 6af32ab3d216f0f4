import { Buffer } from "node:buffer";
import { readdirSync, readlinkSync } from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { receiptOf } from "../../src/adapters/receipt-trail.ts";
import { trust } from "../../src/adapters/trust.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * README "Failures": destroy() aborts the request of every stream still open, so the provider stops
 * generating (and billing) and the socket closes. A stream never read delivered nothing, but its
 * request reached the provider: its hold settles at the prompt estimate. A stream being read
 * settles at what it delivered, as any stream cut short does.
 */
let openai: OpenAIStandIn;
let anthropic: AnthropicStandIn;
let google: GoogleStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  [openai, anthropic, google] = await Promise.all([
    startOpenAIStandIn(),
    startAnthropicStandIn(),
    startGoogleStandIn(),
  ]);
});
afterAll(async () => {
  await Promise.all([openai.close(), anthropic.close(), google.close()]);
});
afterEach(async () => {
  openai.setBehaviour({});
  anthropic.setBehaviour({});
  google.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A long generation: 400 words, 20 ms apart (8 s), so a stream is still open when destroyed. */
const LONG_REPLY = { reply: "word ".repeat(400), chunkDelayMs: 20 };
/** Long enough for an aborted request's socket to be closed. */
const SOCKET_CLOSE_MS = 300;
const BUDGET_UT = 1_000_000;
/** An unread stream's receipt: the prompt the provider read, no output. */
const PROMPT_ESTIMATE = { settled: true, usageSource: "estimated", usage: { outputTokens: 0 } };

function openSockets(): number {
  let count = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")) count += 1;
    } catch {
      // Closed while listing.
    }
  }
  return count;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function openaiClient<Shape extends "spec" | "native">(shape: Shape) {
  const vault = makeTempVault({ budget: BUDGET_UT });
  cleanups.push(vault.cleanup);
  const sdk = new OpenAI({ apiKey: "t", baseURL: `${openai.url}/v1`, maxRetries: 0 });
  const client = await trust(sdk, { vaultBase: vault.base, shape });
  cleanups.push(() => client.destroy());
  return client;
}

const ask = {
  model: "gpt-4o-mini",
  messages: [{ role: "user" as const, content: "hi" }],
  stream: true as const,
};

describe("destroy() with an OpenAI or Anthropic SDK stream open", () => {
  it("native shape, never read: aborts the request, closes its socket and settles at the prompt estimate", async () => {
    openai.setBehaviour(LONG_REPLY);
    const client = await openaiClient("native");
    const stream = await client.chat.completions.create(ask);
    const during = openSockets();
    await client.destroy();
    await pause(SOCKET_CLOSE_MS);
    const after = openSockets();
    let words = 0;
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) words += 1;
    expect({ aborted: stream.controller.signal.aborted, wordsReadAfterDestroy: words }).toEqual({
      aborted: true,
      wordsReadAfterDestroy: 0,
    });
    // The stream's socket is closed.
    expect(after).toBeLessThan(during);
    expect(await receiptOf(stream)).toMatchObject(PROMPT_ESTIMATE);
  });

  it("spec shape, never read: aborts the GovernedStream's request and settles at the prompt estimate", async () => {
    openai.setBehaviour(LONG_REPLY);
    const client = await openaiClient("spec");
    const stream = await client.chat.completions.create(ask);
    await client.destroy();
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject(PROMPT_ESTIMATE);
    expect(stream.controller?.signal.aborted).toBe(true);
  });

  it("native shape, being read: aborts the request and settles at what was delivered", async () => {
    openai.setBehaviour(LONG_REPLY);
    const client = await openaiClient("native");
    const stream = await client.chat.completions.create(ask);
    const during = openSockets();
    const chunks = stream[Symbol.asyncIterator]();
    let wordsBefore = 0;
    while (wordsBefore < 3) {
      const step = await chunks.next();
      if (step.done === true) break;
      if (step.value.choices[0]?.delta.content) wordsBefore += 1;
    }
    await client.destroy();
    const receipt = await receiptOf(stream);
    let wordsAfter = 0;
    for (let step = await chunks.next(); step.done !== true; step = await chunks.next()) {
      if (step.value.choices[0]?.delta.content) wordsAfter += 1;
    }
    await pause(SOCKET_CLOSE_MS);
    expect({ aborted: stream.controller.signal.aborted, wordsAfter }).toEqual({
      aborted: true,
      wordsAfter: 0,
    });
    expect(openSockets()).toBeLessThan(during);
    // No usage chunk came before the cut: the prompt estimate plus the 3 words received.
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    expect(receipt.cost).toBeGreaterThan(0);
    expect(receipt.usage.outputTokens).toBeGreaterThan(0);
  });

  it("spec shape, being read: the receipt is the settle at what was delivered", async () => {
    openai.setBehaviour(LONG_REPLY);
    const client = await openaiClient("spec");
    const stream = await client.chat.completions.create(ask);
    let words = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) words += 1;
      if (words === 3) await client.destroy();
    }
    const receipt = await stream.receipt;
    expect({ words, aborted: stream.controller?.signal.aborted }).toEqual({ words: 3, aborted: true });
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    expect(receipt.cost).toBeGreaterThan(0);
  });
});

describe("destroy() with an Anthropic helper reading its stream", () => {
  async function anthropicClient(receipts: TrustReceipt[] = []) {
    const vault = makeTempVault({ budget: BUDGET_UT });
    cleanups.push(vault.cleanup);
    const sdk = new Anthropic({ apiKey: "t", baseURL: anthropic.url, maxRetries: 0 });
    const onReceipt = (receipt: TrustReceipt) => receipts.push(receipt);
    const client = await trust(sdk, { vaultBase: vault.base, shape: "native", onReceipt });
    cleanups.push(() => client.destroy());
    return client;
  }

  /** Whether `stream` ended as aborted: the helper reports destroy() as an abort of its request. */
  function abortSeen(stream: { on(event: "abort", listener: () => void): unknown }): () => boolean {
    let aborted = false;
    stream.on("abort", () => {
      aborted = true;
    });
    return () => aborted;
  }

  const request = {
    model: "claude-sonnet-4-6",
    max_tokens: 1024,
    messages: [{ role: "user" as const, content: "hi" }],
  };

  /** Resolves once `stream` has emitted `count` text deltas; counts every later one in `after`. */
  function textEvents(stream: { on(event: "text", listener: () => void): unknown }, count: number) {
    const seen = { before: 0, after: 0, destroyed: false };
    const reached = new Promise<void>((resolve) => {
      stream.on("text", () => {
        if (seen.destroyed) seen.after += 1;
        else if (++seen.before === count) resolve();
      });
    });
    return { seen, reached };
  }

  it("messages.stream(): aborts the request and settles at what the helper received", async () => {
    anthropic.setBehaviour(LONG_REPLY);
    const client = await anthropicClient();
    const stream = client.messages.stream(request);
    const aborted = abortSeen(stream);
    const { seen, reached } = textEvents(stream, 3);
    await reached;
    await client.destroy();
    seen.destroyed = true;
    const receipt = await receiptOf(stream);
    await pause(SOCKET_CLOSE_MS);
    expect({ after: seen.after, aborted: aborted() }).toEqual({ after: 0, aborted: true });
    expect(receipt).toMatchObject({ settled: true });
    expect(receipt.usage.outputTokens).toBeGreaterThan(0);
  });

  it("a thread's stream(), which reads the raw response: cancels it and settles at what was read", async () => {
    anthropic.setBehaviour(LONG_REPLY);
    const receipts: TrustReceipt[] = [];
    const client = await anthropicClient(receipts);
    const thread = client.beta.messages.thread({ model: request.model, max_tokens: request.max_tokens });
    const stream = thread.stream({ role: "user", content: "hi" });
    stream.on("error", () => {});
    const { seen, reached } = textEvents(stream, 3);
    await reached;
    await client.destroy();
    seen.destroyed = true;
    await pause(SOCKET_CLOSE_MS);
    // The receipt, through onReceipt (receiptOf(stream) answers too, now that threads are trailed).
    const [receipt] = receipts;
    expect({ after: seen.after, ended: stream.ended, receipts: receipts.length }).toEqual({
      after: 0,
      ended: true,
      receipts: 1,
    });
    expect(receipt?.usage.outputTokens).toBeGreaterThan(0);
  });
});

describe("destroy() with a Gemini stream open", () => {
  /** A native client whose requests' abort signals are collected in `signals`. */
  async function googleClient() {
    const vault = makeTempVault({ budget: BUDGET_UT });
    cleanups.push(vault.cleanup);
    const signals: AbortSignal[] = [];
    const original = globalThis.fetch;
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      if (init?.signal) signals.push(init.signal);
      return original(input, init);
    }) as typeof fetch;
    cleanups.push(() => {
      globalThis.fetch = original;
    });
    const genai = new GoogleGenAI({ apiKey: "t", httpOptions: { baseUrl: google.url } });
    const client = await trust(genai, { vaultBase: vault.base, shape: "native" });
    cleanups.push(() => client.destroy());
    return { client, signals };
  }

  const request = {
    model: "gemini-2.5-flash",
    contents: "hi",
    // Continuation off: the SDK sends the request eagerly, so an unread stream has one open.
    config: { automaticContinuation: false } as never,
  };

  /** The words read from `chunks` until it ends or fails (an aborted Gemini stream fails). */
  async function wordsLeft(chunks: AsyncIterator<{ text?: string | undefined }>): Promise<number> {
    let words = 0;
    try {
      for (let step = await chunks.next(); step.done !== true; step = await chunks.next()) {
        if (step.value.text) words += 1;
      }
    } catch {
      // The abort reaches the reader as an error.
    }
    return words;
  }

  it("never read: aborts the request and settles at the prompt estimate", async () => {
    google.setBehaviour(LONG_REPLY);
    const { client, signals } = await googleClient();
    const stream = await client.models.generateContentStream(request);
    await client.destroy();
    const words = await wordsLeft(stream[Symbol.asyncIterator]());
    expect({ aborted: signals.length > 0 && signals.every((signal) => signal.aborted), words }).toEqual({
      aborted: true,
      words: 0,
    });
    expect(await receiptOf(stream)).toMatchObject(PROMPT_ESTIMATE);
  });

  it("being read: aborts the request and settles at what was delivered", async () => {
    google.setBehaviour({ ...LONG_REPLY, streamUsage: "every" });
    const { client, signals } = await googleClient();
    const stream = await client.models.generateContentStream(request);
    const chunks = stream[Symbol.asyncIterator]();
    for (let words = 0; words < 3; ) {
      const step = await chunks.next();
      if (step.done === true) break;
      if (step.value.text) words += 1;
    }
    await client.destroy();
    const receipt = await receiptOf(stream);
    const words = await wordsLeft(chunks);
    expect({ aborted: signals.every((signal) => signal.aborted), words }).toEqual({
      aborted: true,
      words: 0,
    });
    // Gemini's running totals came with every chunk: the usage of the 3 words delivered, with
    // output counted no lower than the bytes received (15 bytes / 3).
    expect(receipt).toMatchObject({ settled: true, usageSource: "provider" });
    expect(receipt.usage.outputTokens).toBe(Math.ceil(Buffer.byteLength("word ".repeat(3)) / 3));
  });
});
