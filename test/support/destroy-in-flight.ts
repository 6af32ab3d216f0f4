import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import type { AuditEvent } from "../../src/core/audit/audit-event.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { readAuditLog } from "./audit-log.ts";
import { type HeldOpenServer, startHeldOpenServer } from "./held-open-server.ts";
import { makeTempVault } from "./temp-vault.ts";

/** What the destroy()-in-flight tests share: a server that holds every request open, and the three SDKs' calls. */
export let server: HeldOpenServer;
export const cleanups: Array<() => Promise<void> | void> = [];
/** Rejections nobody handled during the current test. */
export const unhandled: unknown[] = [];
const collectUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

/** Starts the held-open server for the file's tests and cleans up after each. */
export function useHeldOpenServer(): void {
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
}

export const BUDGET_UT = 1_000_000;
/** The SDKs' default retries (2): a request retried after destroy()'s abort would show up as a second one. */
export const DEFAULT_RETRIES = undefined;

/** A few macrotasks, so a rejection nobody handles has been reported. */
export async function settleTurns(): Promise<void> {
  for (let turn = 0; turn < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

export type Sdk = "openai" | "anthropic" | "google";
/** One table drives three SDKs' clients, so the tests reach them untyped. */
// biome-ignore lint/suspicious/noExplicitAny: see above.
export type AnyClient = any;

export function sdkClient(sdk: Sdk): object {
  if (sdk === "openai")
    return new OpenAI({ apiKey: "t", baseURL: `${server.url}/v1`, maxRetries: DEFAULT_RETRIES });
  if (sdk === "anthropic")
    return new Anthropic({ apiKey: "t", baseURL: server.url, maxRetries: DEFAULT_RETRIES });
  return new GoogleGenAI({ apiKey: "t", httpOptions: { baseUrl: server.url } });
}

export async function trusted<Shape extends "spec" | "native">(sdk: Sdk, shape: Shape) {
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
export async function ledgerAfter(
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
export function outcomeOf(promise: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(
    () => "resolved",
    (error: unknown) => error,
  );
}

export const question = "What is the capital of France? Answer in one word.";

export interface CallCase {
  sdk: Sdk;
  /** Starts one call on `client`; `extra`: request options (Google: config fields). */
  start: (client: AnyClient, stream: boolean, extra?: object) => PromiseLike<unknown>;
}

/** One model call of each governed create method; `stream` asks for a stream. */
export const CALLS = {
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
