import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import type { AuditEvent } from "../../src/core/audit/audit-event.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { ClientDestroyedError } from "../../src/core/errors.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type HeldOpenServer, startHeldOpenServer } from "../support/held-open-server.ts";
import { startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * README "Failures": destroy() aborts the request of every call still in flight — a non-streaming
 * call the provider has not answered yet, a stream whose create() was never awaited — so the
 * provider stops generating and the socket closes. The request left the process, so the provider
 * may bill the prompt it read: the hold settles at the prompt estimate (`usageSource:
 * "estimated"`), not voided; a whole response that had arrived unread was generated in full and
 * settles at its whole hold. The caller's promise rejects with ClientDestroyedError; a promise
 * nobody awaits never becomes an unhandled rejection. A call still being authorized is never sent.
 */
let server: HeldOpenServer;
const cleanups: Array<() => Promise<void> | void> = [];
const unhandled: unknown[] = [];
const collectUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeAll(async () => {
  server = await startHeldOpenServer();
  process.on("unhandledRejection", collectUnhandled);
});
afterAll(async () => {
  process.off("unhandledRejection", collectUnhandled);
  await server.close();
});
afterEach(async () => {
  unhandled.length = 0;
  server.setMode("silent");
  // Latest first: a client is destroyed before its vault is removed.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const BUDGET_UT = 1_000_000;
/** The SDKs' default retries (2): a request retried after destroy()'s abort would show up as a second one. */
const DEFAULT_RETRIES = undefined;

/** A few macrotasks, so a rejection nobody handles has been reported. */
async function settleTurns(): Promise<void> {
  for (let turn = 0; turn < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

type Sdk = "openai" | "anthropic" | "google";
/** One table drives three SDKs' clients, so the tests reach them untyped. */
// biome-ignore lint/suspicious/noExplicitAny: see above.
type AnyClient = any;

function sdkClient(sdk: Sdk): object {
  if (sdk === "openai")
    return new OpenAI({ apiKey: "t", baseURL: `${server.url}/v1`, maxRetries: DEFAULT_RETRIES });
  if (sdk === "anthropic")
    return new Anthropic({ apiKey: "t", baseURL: server.url, maxRetries: DEFAULT_RETRIES });
  return new GoogleGenAI({ apiKey: "t", httpOptions: { baseUrl: server.url } });
}

async function trusted<Shape extends "spec" | "native">(sdk: Sdk, shape: Shape) {
  const vault = makeTempVault({ budget: BUDGET_UT });
  cleanups.push(vault.cleanup);
  const receipts: TrustReceipt[] = [];
  const client = await trust(sdkClient(sdk), {
    vaultBase: vault.base,
    shape,
    onReceipt: (receipt) => receipts.push(receipt),
  });
  cleanups.push(() => client.destroy());
  return { client: client as AnyClient, vault, receipts };
}

/** What the vault says once the client is gone: held, posted, the chain, the call's last event. */
async function ledgerAfter(
  vault: { base: string; paths: { auditLog: string; auditHead: string } },
  id: string,
) {
  const engine = await createEngine({ vaultBase: vault.base });
  const balance = await engine.balance();
  await engine.close();
  const events = readAuditLog(vault.paths.auditLog).filter((event) => event.data.transferId === id);
  return {
    pendingUsertokens: balance.pendingUsertokens,
    postedUsertokens: balance.postedUsertokens,
    chainOk: verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead }).ok,
    lastEvent: events[events.length - 1] as AuditEvent | undefined,
  };
}

/** How a settled promise ended, without leaving a rejection unhandled. */
function outcomeOf(promise: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(
    () => "resolved",
    (error: unknown) => error,
  );
}

const question = "What is the capital of France? Answer in one word.";

interface CallCase {
  sdk: Sdk;
  /** Starts one call on `client`; `extra`: request options (Google: config fields). */
  start: (client: AnyClient, stream: boolean, extra?: object) => PromiseLike<unknown>;
}

/** One model call of each governed create method; `stream` asks for a stream. */
const CALLS = {
  "OpenAI chat.completions.create": {
    sdk: "openai",
    start: (client, stream, options?: object) =>
      client.chat.completions.create(
        { model: "gpt-4o-mini", messages: [{ role: "user", content: question }], stream },
        options,
      ),
  },
  "OpenAI responses.create": {
    sdk: "openai",
    start: (client, stream, options?: object) =>
      client.responses.create({ model: "gpt-4o-mini", input: question, stream }, options),
  },
  "Anthropic messages.create": {
    sdk: "anthropic",
    start: (client, stream, options?: object) =>
      client.messages.create(
        {
          model: "claude-sonnet-4-6",
          max_tokens: 1024,
          messages: [{ role: "user", content: question }],
          stream,
        },
        options,
      ),
  },
  "Google generateContent": {
    sdk: "google",
    start: (client, stream, config?: object) => {
      // Continuation off: the SDK sends a stream's request eagerly.
      const params = {
        model: "gemini-2.5-flash",
        contents: question,
        config: { ...(stream ? { automaticContinuation: false } : {}), ...config },
      };
      return stream ? client.models.generateContentStream(params) : client.models.generateContent(params);
    },
  },
} satisfies Record<string, CallCase>;

describe("destroy() with a non-streaming call in flight", () => {
  for (const [name, { sdk, start }] of Object.entries(CALLS)) {
    for (const shape of ["spec", "native"] as const) {
      it(`${name} (${shape}): aborts the request, rejects with ClientDestroyedError, settles at the prompt estimate`, async () => {
        const { client, vault, receipts } = await trusted(sdk, shape);
        const before = server.requests.length;
        const outcome = outcomeOf(start(client, false));
        await server.arrived(before + 1);
        await client.destroy();
        await server.closedByClient(before + 1);
        expect(await outcome).toBeInstanceOf(ClientDestroyedError);
        // Not retried: the abort is destroy()'s, not a failure the SDK tries again.
        expect(server.requests.length).toBe(before + 1);
        const [receipt] = receipts;
        expect(receipts).toHaveLength(1);
        expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
        expect(receipt?.usage.outputTokens).toBe(0);
        expect(receipt?.usage.inputTokens).toBeGreaterThan(0);
        expect(receipt?.cost).toBeGreaterThan(0);
        const after = await ledgerAfter(vault, receipt?.transferId ?? "");
        expect(after).toMatchObject({ pendingUsertokens: 0, postedUsertokens: receipt?.cost, chainOk: true });
        expect(after.lastEvent).toMatchObject({ kind: "spend", data: { usageSource: "estimated" } });
        await settleTurns();
        expect(unhandled).toEqual([]);
      });
    }
  }
});

describe("destroy() with a stream whose create() was never awaited", () => {
  for (const [name, { sdk, start }] of Object.entries(CALLS)) {
    for (const mode of ["silent", "headers"] as const) {
      const when = mode === "silent" ? "before its response began" : "after its response began";
      it(`${name}, native, ${when}: aborts the request; awaiting it afterwards rejects with ClientDestroyedError`, async () => {
        server.setMode(mode);
        const { client, vault, receipts } = await trusted(sdk, "native");
        const before = server.requests.length;
        const pending = start(client, true);
        await server.arrived(before + 1);
        await client.destroy();
        await server.closedByClient(before + 1);
        await settleTurns();
        expect(await outcomeOf(pending)).toBeInstanceOf(ClientDestroyedError);
        expect(receipts).toHaveLength(1);
        expect(receipts[0]).toMatchObject({ settled: true, usageSource: "estimated" });
        const after = await ledgerAfter(vault, receipts[0]?.transferId ?? "");
        expect(after).toMatchObject({ pendingUsertokens: 0, chainOk: true });
        expect(unhandled).toEqual([]);
      });
    }

    it(`${name}, spec, never awaited at all: aborts the request and leaves no unhandled rejection`, async () => {
      const { client, vault, receipts } = await trusted(sdk, "spec");
      const before = server.requests.length;
      start(client, true);
      await server.arrived(before + 1);
      await client.destroy();
      await server.closedByClient(before + 1);
      await settleTurns();
      expect(unhandled).toEqual([]);
      expect(receipts).toHaveLength(1);
      expect(receipts[0]).toMatchObject({ settled: true, usageSource: "estimated" });
      expect(await ledgerAfter(vault, receipts[0]?.transferId ?? "")).toMatchObject({
        pendingUsertokens: 0,
        chainOk: true,
      });
    });
  }
});

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

describe("destroy() called while a call is still being authorized", () => {
  for (const [name, { sdk, start }] of Object.entries(CALLS)) {
    it(`${name}: the request is never sent, the hold is voided, the call rejects with ClientDestroyedError`, async () => {
      const { client, vault, receipts } = await trusted(sdk, "native");
      const before = server.requests.length;
      const outcome = outcomeOf(start(client, false));
      await client.destroy();
      expect(await outcome).toBeInstanceOf(ClientDestroyedError);
      await settleTurns();
      expect(server.requests.length).toBe(before);
      expect(unhandled).toEqual([]);
      // Refused before its hold was placed, or its hold voided: either way nothing is spent.
      for (const receipt of receipts) expect(receipt).toMatchObject({ settled: false, cost: 0 });
      expect(await ledgerAfter(vault, receipts[0]?.transferId ?? "")).toMatchObject({
        pendingUsertokens: 0,
        postedUsertokens: 0,
        chainOk: true,
      });
    });
  }
});

describe("destroy() with a whole response that arrived but was never awaited", () => {
  /** The SDK's own `fetch` option, telling when a response (its head) has arrived. */
  function arrivalFetch() {
    let arrived!: () => void;
    const responded = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const fetchAndTell = async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const response = await fetch(input, init);
      arrived();
      return response;
    };
    return { fetch: fetchAndTell as typeof fetch, responded };
  }

  const sdks = {
    OpenAI: {
      start: () => startOpenAIStandIn(),
      client: (url: string, fetchOption: typeof fetch) =>
        new OpenAI({ apiKey: "t", baseURL: `${url}/v1`, fetch: fetchOption }),
      call: (client: AnyClient) => CALLS["OpenAI chat.completions.create"].start(client, false),
    },
    Anthropic: {
      start: () => startAnthropicStandIn(),
      client: (url: string, fetchOption: typeof fetch) =>
        new Anthropic({ apiKey: "t", baseURL: url, fetch: fetchOption }),
      call: (client: AnyClient) => CALLS["Anthropic messages.create"].start(client, false),
    },
  };

  for (const [name, sdk] of Object.entries(sdks)) {
    it(`${name}, native: settles at the whole hold (generated in full, usage unread) and awaiting it rejects`, async () => {
      const standIn = await sdk.start();
      cleanups.push(() => standIn.close());
      const vault = makeTempVault({ budget: BUDGET_UT });
      cleanups.push(vault.cleanup);
      const receipts: TrustReceipt[] = [];
      const { fetch: fetchOption, responded } = arrivalFetch();
      const client: AnyClient = await trust(sdk.client(standIn.url, fetchOption), {
        vaultBase: vault.base,
        shape: "native",
        onReceipt: (receipt) => receipts.push(receipt),
      });
      cleanups.push(() => client.destroy());
      const pending = sdk.call(client);
      await responded;
      // The SDK hands the response on within a few turns (no I/O between).
      await settleTurns();
      await client.destroy();
      expect(await outcomeOf(pending)).toBeInstanceOf(ClientDestroyedError);
      const after = await ledgerAfter(vault, receipts[0]?.transferId ?? "");
      expect(receipts[0]).toMatchObject({ settled: true, usageSource: "estimated" });
      expect(receipts[0]?.cost).toBe(after.lastEvent?.data.holdUsertokens);
      expect(after).toMatchObject({ pendingUsertokens: 0, chainOk: true, lastEvent: { kind: "spend" } });
      await settleTurns();
      expect(unhandled).toEqual([]);
    });
  }
});
