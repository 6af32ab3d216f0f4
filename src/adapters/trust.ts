import { createEngine, type Engine } from "../core/engine.ts";
import { ClientDestroyedError, UnsupportedClientError } from "../core/errors.ts";
import { messagesCreateTranslation } from "./anthropic/messages-create.ts";
import { overridePaths } from "./client-proxy.ts";
import {
  type CreateFn,
  type CreateTranslation,
  governCreate,
  type TrustedResponse,
} from "./governed-create.ts";
import type { GovernedStream } from "./governed-stream.ts";
import { chatCompletionsTranslation } from "./openai/chat-completions.ts";
import { embeddingsTranslation } from "./openai/embeddings.ts";

export interface TrustOpts {
  /** An explicit vault config file; its folder becomes the vault. */
  configPath?: string;
  /** Accepted for compatibility with the hosted proxy; calls still go straight to the provider. */
  proxy?: string;
  /** Accepted for compatibility with the hosted proxy; not used locally. */
  key?: string;
  /** Budget in usertokens (1 UT = $0.0001); overrides the config file. */
  budget?: number;
  tier?: "free" | "mini" | "pro" | "mega" | "ultra";
  /** Memory ledger (nothing persisted); the audit chain is still written. Also `USERTRUST_DRY_RUN=true`. */
  dryRun?: boolean;
  /** Folder that holds `.usertrust/`; defaults to the working directory. */
  vaultBase?: string;
  /** Actor named on audit events when a request names none (OpenAI's `user` field does). */
  actor?: string;
}

export type LLMClientKind = "anthropic" | "openai" | "google";

/** What a governed call resolves to: a stream stays a stream, anything else gains a receipt. */
type GovernedResult<T> = T extends AsyncIterable<infer Chunk> ? GovernedStream<Chunk> : TrustedResponse<T>;
type Governed<R> = Promise<GovernedResult<Awaited<R>>>;

/** Maps each overload of an SDK method to its governed form. */
type GovernMethod<F> = F extends {
  (...args: infer A1): infer R1;
  (...args: infer A2): infer R2;
  (...args: infer A3): infer R3;
}
  ? ((...args: A1) => Governed<R1>) & ((...args: A2) => Governed<R2>) & ((...args: A3) => Governed<R3>)
  : F extends (...args: infer A) => infer R
    ? (...args: A) => Governed<R>
    : F;

type WithGovernedChat<T> = T extends { chat: { completions: { create: infer F } } }
  ? Omit<T, "chat"> & {
      chat: Omit<T["chat"], "completions"> & {
        completions: Omit<T["chat"]["completions"], "create"> & { create: GovernMethod<F> };
      };
    }
  : T;

type WithGovernedEmbeddings<T> = T extends { embeddings: { create: infer F } }
  ? Omit<T, "embeddings"> & { embeddings: Omit<T["embeddings"], "create"> & { create: GovernMethod<F> } }
  : T;

type WithGovernedMessages<T> = T extends { messages: { create: infer F } }
  ? Omit<T, "messages"> & { messages: Omit<T["messages"], "create"> & { create: GovernMethod<F> } }
  : T;

/** The governed client: the same shape as the SDK client, governed methods returning receipts, plus destroy(). */
export type TrustedClient<T> = WithGovernedMessages<WithGovernedEmbeddings<WithGovernedChat<T>>> & {
  /** Voids in-flight holds, flushes the audit chain and closes the ledger. Idempotent. */
  destroy(): Promise<void>;
};

/** The method each supported client kind has governed in this release, and how it is translated. */
const GOVERNED_METHODS: Partial<
  Record<LLMClientKind, ReadonlyArray<{ path: string; translation: CreateTranslation }>>
> = {
  openai: [
    { path: "chat.completions.create", translation: chatCompletionsTranslation },
    { path: "embeddings.create", translation: embeddingsTranslation },
  ],
  anthropic: [{ path: "messages.create", translation: messagesCreateTranslation }],
};

/**
 * Wraps an LLM SDK client so every model call is a governed transaction. Detection is by shape,
 * so no SDK is imported. This release governs OpenAI `chat.completions.create` and
 * `embeddings.create`, and Anthropic `messages.create`; every other property and method of the client passes through untouched.
 */
export async function trust<T extends object>(client: T, opts: TrustOpts = {}): Promise<TrustedClient<T>> {
  const kind = detectClientKind(client);
  const governed = kind === undefined ? undefined : GOVERNED_METHODS[kind];
  if (governed === undefined) {
    throw new UnsupportedClientError(
      kind === undefined
        ? "trust() needs an OpenAI, Anthropic or Google SDK client; this object has none of their shapes " +
            "(client.chat.completions.create, client.messages.create, client.models.generateContent)."
        : `trust() recognised a ${kind} client, but this release governs only OpenAI and Anthropic clients; ` +
            "call the engine directly with createEngine() for others.",
    );
  }
  const engine = await createEngine(engineOptions(opts));
  let destroyed = false;
  const usable = (): Engine => {
    if (destroyed) throw new ClientDestroyedError();
    return engine;
  };
  const overrides = new Map<string, unknown>([
    ...governed
      .filter(({ path }) => typeof lookup(client, path) === "function")
      .map(({ path, translation }): [string, unknown] => [
        path,
        governCreate(boundMethod(client, path), usable, translation),
      ]),
    [
      "destroy",
      async (): Promise<void> => {
        destroyed = true;
        await engine.close();
      },
    ],
  ]);
  return overridePaths(client, overrides) as TrustedClient<T>;
}

function lookup(client: object, path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], client);
}

/** The SDK method at a dotted path, bound to the object that owns it. */
function boundMethod(client: object, path: string): CreateFn {
  const keys = path.split(".");
  const name = keys.pop() as string;
  const owner = keys.reduce<Record<string, unknown>>(
    (node, key) => node[key] as Record<string, unknown>,
    client as Record<string, unknown>,
  );
  return (owner[name] as CreateFn).bind(owner);
}

export function detectClientKind(client: unknown): LLMClientKind | undefined {
  const shape = client as {
    chat?: { completions?: { create?: unknown } };
    messages?: { create?: unknown };
    models?: { generateContent?: unknown };
  } | null;
  if (typeof shape?.chat?.completions?.create === "function") return "openai";
  if (typeof shape?.messages?.create === "function") return "anthropic";
  if (typeof shape?.models?.generateContent === "function") return "google";
  return undefined;
}

function engineOptions(opts: TrustOpts): Parameters<typeof createEngine>[0] {
  const options: NonNullable<Parameters<typeof createEngine>[0]> = {};
  if (opts.configPath !== undefined) options.configPath = opts.configPath;
  if (opts.vaultBase !== undefined) options.vaultBase = opts.vaultBase;
  if (opts.budget !== undefined) options.budget = opts.budget;
  if (opts.tier !== undefined) options.tier = opts.tier;
  if (opts.dryRun !== undefined) options.dryRun = opts.dryRun;
  if (opts.actor !== undefined) options.actor = opts.actor;
  return options;
}
