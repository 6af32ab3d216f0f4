import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README "Failures": destroy() aborts the request of every open stream; "an SDK helper reading it,
 * such as `messages.stream()`, ends as aborted". The SDKs' event streams raise an unhandled
 * rejection for an abort nobody listens for, which ends a Node process run with the default
 * --unhandled-rejections=throw. The abort is usertrust's, not the caller's: a caller who handles the
 * helper's failures the way the SDK documents (`on("error")`) must not get one, and still sees the
 * helper end as aborted.
 */

let anthropic: AnthropicStandIn;
let openai: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  [anthropic, openai] = await Promise.all([startAnthropicStandIn(), startOpenAIStandIn()]);
});
afterAll(async () => {
  await Promise.all([anthropic.close(), openai.close()]);
});
afterEach(async () => {
  anthropic.setBehaviour({});
  openai.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const LONG_REPLY = { reply: "word ".repeat(400), chunkDelayMs: 10 };
/** Long enough for an unhandled rejection to be reported. */
const SETTLE_MS = 200;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The names of the unhandled rejections raised from now until the test ends. */
function unhandledRejections(): string[] {
  const names: string[] = [];
  const onUnhandled = (reason: unknown) => names.push((reason as Error)?.name ?? String(reason));
  process.on("unhandledRejection", onUnhandled);
  cleanups.push(() => {
    process.off("unhandledRejection", onUnhandled);
  });
  return names;
}

interface EventStream {
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/** Listens the way the SDKs document (`error`), and records whether the helper ended as aborted. */
function watch(stream: EventStream, textEvent: string, count: number) {
  const seen = { errors: 0, aborted: false, ended: false };
  stream.on("error", () => {
    seen.errors += 1;
  });
  stream.on("end", () => {
    seen.ended = true;
  });
  const reached = new Promise<void>((resolve) => {
    let texts = 0;
    stream.on(textEvent, () => {
      if (++texts === count) resolve();
    });
  });
  return { seen, reached };
}

async function anthropicClient() {
  const vault = makeTempVault({ budget: 1_000_000 });
  cleanups.push(vault.cleanup);
  const sdk = new Anthropic({ apiKey: "t", baseURL: anthropic.url, maxRetries: 0 });
  const client = await trust(sdk, { vaultBase: vault.base, shape: "native" });
  cleanups.push(() => client.destroy());
  return client;
}

describe("destroy() with an SDK helper's stream open", () => {
  it("messages.stream(): no unhandled rejection, and the helper still ends as aborted", async () => {
    const unhandled = unhandledRejections();
    anthropic.setBehaviour(LONG_REPLY);
    const client = await anthropicClient();
    const stream = client.messages.stream({
      model: "claude-sonnet-4-6",
      max_tokens: 4096,
      messages: [{ role: "user", content: "hi" }],
    });
    const { seen, reached } = watch(stream, "text", 3);
    await reached;
    await client.destroy();
    await pause(SETTLE_MS);
    expect(unhandled).toEqual([]);
    expect({ ...seen, aborted: stream.aborted }).toEqual({ errors: 0, aborted: true, ended: true });
    await expect(stream.done()).rejects.toThrow(/abort/i);
  });

  it("a thread's stream(): no unhandled rejection", async () => {
    const unhandled = unhandledRejections();
    anthropic.setBehaviour(LONG_REPLY);
    const client = await anthropicClient();
    const thread = client.beta.messages.thread({ model: "claude-sonnet-4-6", max_tokens: 4096 });
    const stream = thread.stream({ role: "user", content: "hi" });
    const { seen, reached } = watch(stream, "text", 3);
    await reached;
    await client.destroy();
    await pause(SETTLE_MS);
    expect(unhandled).toEqual([]);
    expect({ ...seen, aborted: stream.aborted }).toEqual({ errors: 0, aborted: true, ended: true });
  });

  it("chat.completions.stream(): no unhandled rejection", async () => {
    const unhandled = unhandledRejections();
    openai.setBehaviour(LONG_REPLY);
    const vault = makeTempVault({ budget: 1_000_000 });
    cleanups.push(vault.cleanup);
    const sdk = new OpenAI({ apiKey: "t", baseURL: `${openai.url}/v1`, maxRetries: 0 });
    const client = await trust(sdk, { vaultBase: vault.base, shape: "native" });
    cleanups.push(() => client.destroy());
    const stream = client.chat.completions.stream({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    const { seen, reached } = watch(stream, "content", 3);
    await reached;
    await client.destroy();
    await pause(SETTLE_MS);
    expect(unhandled).toEqual([]);
    expect({ errors: seen.errors, ended: seen.ended }).toEqual({ errors: 0, ended: true });
  });

  it("a caller's own abort() without listeners still raises the SDK's unhandled rejection", async () => {
    const unhandled = unhandledRejections();
    anthropic.setBehaviour(LONG_REPLY);
    const client = await anthropicClient();
    const stream = client.messages.stream({
      model: "claude-sonnet-4-6",
      max_tokens: 4096,
      messages: [{ role: "user", content: "hi" }],
    });
    await new Promise<void>((resolve) => {
      let texts = 0;
      stream.on("text", () => {
        if (++texts === 3) resolve();
      });
    });
    stream.abort();
    await pause(SETTLE_MS);
    // Only destroy()'s own abort is made quiet; the SDK's behaviour for the caller's is kept.
    expect(unhandled).toEqual(["APIUserAbortError"]);
  });
});
