import Anthropic from "@anthropic-ai/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README "Failures": "destroy() first aborts the request of every stream still open …: one you were
 * reading settles at what it delivered, like any stream cut short", and a stream cut short is
 * charged "with output never counted lower than the bytes you actually received (bytes / 3),
 * because a stream cut before its final usage event under-reports". A thread's stream() reads the
 * raw response itself (GovernedApiPromise._responseProps → meteredResponse): the read that ends
 * because destroy() cut the request is not a completed stream either.
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

const WORD = "supercalifragilisticexpialidocious ";
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function client(receipts: TrustReceipt[]) {
  const vault = makeTempVault({ budget: 1_000_000 });
  cleanups.push(vault.cleanup);
  const sdk = new Anthropic({ apiKey: "t", baseURL: server.url, maxRetries: 0 });
  const trusted = await trust(sdk, {
    vaultBase: vault.base,
    shape: "native",
    onReceipt: (r) => receipts.push(r),
  });
  cleanups.push(() => trusted.destroy());
  return trusted;
}

/** Reads `count` text deltas of `stream`, destroys the client, and returns the bytes received. */
async function destroyAfter(
  trusted: Awaited<ReturnType<typeof client>>,
  stream: {
    on(event: "text", listener: (text: string) => void): unknown;
    on(event: "error", l: () => void): unknown;
  },
  count: number,
): Promise<number> {
  let bytes = 0;
  let seen = 0;
  await new Promise<void>((resolve) => {
    stream.on("text", (text: string) => {
      bytes += Buffer.byteLength(text);
      if (++seen === count) resolve();
    });
  });
  stream.on("error", () => {});
  await trusted.destroy();
  await pause(200);
  return bytes;
}

describe("destroy() while a thread's stream() is being read", () => {
  it("control: messages.stream() settles at no fewer output tokens than bytes received / 3", async () => {
    server.setBehaviour({ reply: WORD.repeat(400), chunkDelayMs: 10 });
    const receipts: TrustReceipt[] = [];
    const trusted = await client(receipts);
    const stream = trusted.messages.stream({
      model: "claude-sonnet-4-6",
      max_tokens: 4096,
      messages: [{ role: "user", content: "hi" }],
    });
    const bytes = await destroyAfter(trusted, stream, 30);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]?.usage.outputTokens).toBeGreaterThanOrEqual(Math.floor(bytes / 3));
  });

  it("thread.stream() settles at no fewer output tokens than bytes received / 3", async () => {
    server.setBehaviour({ reply: WORD.repeat(400), chunkDelayMs: 10 });
    const receipts: TrustReceipt[] = [];
    const trusted = await client(receipts);
    const thread = trusted.beta.messages.thread({ model: "claude-sonnet-4-6", max_tokens: 4096 });
    const stream = thread.stream({ role: "user", content: "hi" });
    const bytes = await destroyAfter(trusted, stream, 30);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]?.usage.outputTokens).toBeGreaterThanOrEqual(Math.floor(bytes / 3));
  });
});
