import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { ClientDestroyedError } from "../../src/core/errors.ts";
import {
  type AnyClient,
  CALLS,
  ledgerAfter,
  outcomeOf,
  question,
  type Sdk,
  server,
  settleTurns,
  trusted,
  unhandled,
  useHeldOpenServer,
} from "../support/destroy-in-flight.ts";

/** README "Failures": destroy() composes its abort with the caller's signal and ends SDK helpers waiting on a request. */
useHeldOpenServer();

describe("the caller's own abort signal, composed with destroy()'s", () => {
  it("OpenAI: the caller's signal still aborts the call (the SDK's own error), and destroy() leaves it untouched", async () => {
    const { client, receipts } = await trusted("openai", "native");
    const mine = new AbortController();
    const before = server.requests.length;
    const aborted = outcomeOf(
      CALLS["OpenAI chat.completions.create"].start(client, false, { signal: mine.signal }),
    );
    await server.arrived(before + 1);
    mine.abort();
    await server.closedByClient(before + 1);
    expect(await aborted).toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(receipts[0]).toMatchObject({ settled: false, cost: 0 });

    const theirs = new AbortController();
    const options = { signal: theirs.signal };
    const cut = outcomeOf(CALLS["OpenAI chat.completions.create"].start(client, false, options));
    await server.arrived(before + 2);
    await client.destroy();
    await server.closedByClient(before + 2);
    expect(await cut).toBeInstanceOf(ClientDestroyedError);
    // The caller's options and signal are as they were: composed with, not replaced or aborted.
    expect(Object.keys(options)).toEqual(["signal"]);
    expect(options.signal).toBe(theirs.signal);
    expect(theirs.signal.aborted).toBe(false);
  });

  it("Anthropic: the caller's signal still aborts the call with the SDK's own error", async () => {
    const { client, receipts } = await trusted("anthropic", "spec");
    const mine = new AbortController();
    const before = server.requests.length;
    const aborted = outcomeOf(
      CALLS["Anthropic messages.create"].start(client, false, { signal: mine.signal }),
    );
    await server.arrived(before + 1);
    mine.abort();
    await server.closedByClient(before + 1);
    expect(await aborted).toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(receipts[0]).toMatchObject({ settled: false, cost: 0 });
  });

  it("Google: the caller's config.abortSignal still aborts the call, and destroy() leaves it untouched", async () => {
    const { client, receipts } = await trusted("google", "native");
    const mine = new AbortController();
    const before = server.requests.length;
    const call = CALLS["Google generateContent"];
    const aborted = outcomeOf(call.start(client, false, { abortSignal: mine.signal }));
    await server.arrived(before + 1);
    mine.abort();
    await server.closedByClient(before + 1);
    expect(await aborted).not.toBe("resolved");
    expect(await aborted).not.toBeInstanceOf(ClientDestroyedError);
    expect(receipts[0]).toMatchObject({ settled: false, cost: 0 });

    const theirs = new AbortController();
    const cut = outcomeOf(call.start(client, false, { abortSignal: theirs.signal }));
    await server.arrived(before + 2);
    await client.destroy();
    await server.closedByClient(before + 2);
    expect(await cut).toBeInstanceOf(ClientDestroyedError);
    expect(theirs.signal.aborted).toBe(false);
  });
});

describe("destroy() with an SDK helper's request in flight", () => {
  /** Whether `error`, or an error it wraps (the SDKs' helpers wrap failures in their own class), is ClientDestroyedError. */
  function destroyedBy(error: unknown): boolean {
    for (let cause = error, depth = 0; cause instanceof Error && depth < 4; depth += 1) {
      if (cause instanceof ClientDestroyedError) return true;
      cause = cause.cause;
    }
    return false;
  }

  const HELPERS: Record<string, { sdk: Sdk; start: (client: AnyClient) => () => Promise<unknown> }> = {
    "OpenAI chat.completions.runTools": {
      sdk: "openai",
      start: (client) => {
        const runner = client.chat.completions.runTools({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: question }],
          tools: [],
        });
        return () => runner.finalContent();
      },
    },
    "OpenAI chat.completions.stream": {
      sdk: "openai",
      start: (client) => {
        const stream = client.chat.completions.stream({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: question }],
        });
        return () => stream.finalChatCompletion();
      },
    },
    "Anthropic messages.stream": {
      sdk: "anthropic",
      start: (client) => {
        const stream = client.messages.stream({
          model: "claude-sonnet-4-6",
          max_tokens: 1024,
          messages: [{ role: "user", content: question }],
        });
        return () => stream.finalMessage();
      },
    },
    "Google chats sendMessage": {
      sdk: "google",
      start: (client) => {
        const sent = client.chats.create({ model: "gemini-2.5-flash" }).sendMessage({ message: question });
        return () => sent;
      },
    },
  };

  for (const [name, { sdk, start }] of Object.entries(HELPERS)) {
    it(`${name}, no listeners: aborts the request, ends the helper with ClientDestroyedError as the cause, no unhandled rejection`, async () => {
      const { client, vault, receipts } = await trusted(sdk, "native");
      const before = server.requests.length;
      const result = start(client);
      await server.arrived(before + 1);
      await client.destroy();
      await server.closedByClient(before + 1);
      await settleTurns();
      expect(unhandled).toEqual([]);
      const outcome = await outcomeOf(result());
      expect(destroyedBy(outcome)).toBe(true);
      expect(receipts).toHaveLength(1);
      expect(receipts[0]).toMatchObject({ settled: true, usageSource: "estimated" });
      expect(await ledgerAfter(vault, receipts[0]?.transferId ?? "")).toMatchObject({
        pendingUsertokens: 0,
        chainOk: true,
      });
    });
  }
});
