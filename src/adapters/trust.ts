import type { EscalationHandler } from "../core/board/escalation.ts";
import type { TrustConfigInput } from "../core/config.ts";
import { createEngine } from "../core/create-engine.ts";
import type { Engine } from "../core/engine.ts";
import { ClientDestroyedError, UnsupportedClientError } from "../core/errors.ts";
import type { TrustReceipt } from "../core/receipt.ts";
import type { TrustContext } from "../core/surface/trust-context.ts";
import { messagesCreateTranslation } from "./anthropic/messages-create.ts";
import { clientEndpoint } from "./client-endpoint.ts";
import { overridePaths } from "./client-proxy.ts";
import { governedChats, governedModels } from "./google/governed-models.ts";
import type { CallContext, CallTranslation } from "./governed-call.ts";
import { type ConversationMethods, trailedConversation, trailedMethod } from "./helper-trail.ts";
import { chatCompletionsTranslation } from "./openai/chat-completions.ts";
import { embeddingsTranslation } from "./openai/embeddings.ts";
import { responsesTranslation } from "./openai/responses.ts";
import { type Governed, specShaped } from "./spec-shape.ts";
import { governStainlessCreate, type RawCreate } from "./stainless/governed-create.ts";
import type { TrustedClient } from "./trusted-client.ts";

export type ResponseShape = "spec" | "native";

export interface TrustOpts<Shape extends ResponseShape = ResponseShape> {
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
  /** Scope of every call of this client (e.g. "production/api"), for policy scopePatterns and the board. */
  scope?: string | readonly string[];
  /** Fields every call's policies can read as `metadata.<key>`. */
  metadata?: Readonly<Record<string, unknown>>;
  /**
   * "spec" (default): create methods resolve to `{ response, receipt, governance }` and streams to
   * a GovernedStream. "native": every method returns exactly what the SDK returns; receipts come
   * from `receiptOf(response)` and `onReceipt`.
   */
  shape?: Shape;
  /** Called with the receipt of every governed call, however it ended (settled or released). */
  onReceipt?: (receipt: TrustReceipt) => void;
  /** Config fields that win over the vault's config file, e.g. `{ pii: "redact", enforcement: "warn" }`. */
  config?: Partial<TrustConfigInput>;
  /** Where the money is kept (shorthand for `config.ledger`), e.g. `{ kind: "postgres", url }`. */
  ledger?: TrustConfigInput["ledger"];
  /** Decides calls the board escalates: "allow" or "block" (may be async). Without it, `board.escalation` decides. */
  onEscalate?: EscalationHandler;
}

export type LLMClientKind = "anthropic" | "openai" | "google";

interface GovernedCreate {
  path: string;
  translation: CallTranslation;
}

interface StainlessSurface {
  creates: GovernedCreate[];
  helpers: string[];
  /** Methods that return a conversation the caller drives turn by turn (see trailedConversation). */
  conversations: string[];
}

/** An Anthropic message thread's turns, and the method that copies it into a new thread. */
const THREAD_METHODS: ConversationMethods = {
  turns: ["send", "parse", "stream", "toolRunner"],
  forks: ["fork"],
};

/**
 * What is governed per SDK. Creates are the methods that send one model request; every SDK helper
 * and conversation listed here reaches the model only through them (checked against openai 7,
 * @anthropic-ai/sdk 1), and is wrapped only so that `receiptOf(helperResult)` can answer and
 * destroy() can end it quietly.
 */
const STAINLESS_SURFACES: Record<"openai" | "anthropic", StainlessSurface> = {
  openai: {
    creates: [
      { path: "chat.completions.create", translation: chatCompletionsTranslation },
      { path: "responses.create", translation: serverHeld(responsesTranslation, continuesResponse) },
      // A compaction pass runs the model over a conversation and reports Responses usage.
      { path: "responses.compact", translation: serverHeld(responsesTranslation, continuesResponse) },
      { path: "embeddings.create", translation: embeddingsTranslation },
    ],
    helpers: [
      "chat.completions.parse",
      "chat.completions.stream",
      "chat.completions.runTools",
      "responses.parse",
      "responses.stream",
    ],
    conversations: [],
  },
  anthropic: {
    creates: [
      { path: "messages.create", translation: serverHeld(messagesCreateTranslation, continuesThread) },
      { path: "beta.messages.create", translation: serverHeld(messagesCreateTranslation, continuesThread) },
    ],
    helpers: [
      "messages.parse",
      "messages.stream",
      "beta.messages.parse",
      "beta.messages.stream",
      "beta.messages.toolRunner",
    ],
    conversations: ["beta.messages.thread"],
  },
};

/** `translation`, for a method whose requests may continue a conversation the provider keeps. */
function serverHeld(translation: CallTranslation, continues: (body: unknown) => boolean): CallTranslation {
  return { ...translation, continuesServerContext: continues };
}

/** A Responses request that builds on a stored response or a conversation object. */
function continuesResponse(body: unknown): boolean {
  const fields = body as { previous_response_id?: unknown; conversation?: unknown } | null;
  return (
    (fields?.previous_response_id !== undefined && fields.previous_response_id !== null) ||
    (fields?.conversation !== undefined && fields.conversation !== null)
  );
}

/** An Anthropic message-thread turn after the first (`thread: { type: "continue", previous_message_id }`). */
function continuesThread(body: unknown): boolean {
  return (body as { thread?: { type?: unknown } } | null)?.thread?.type === "continue";
}

const GOOGLE_METHODS: ReadonlyArray<{ name: string; streams: boolean }> = [
  { name: "generateContent", streams: false },
  { name: "generateContentStream", streams: true },
  { name: "embedContent", streams: false },
];

/**
 * Wraps an OpenAI, Anthropic or Google SDK client so every model call is a governed transaction.
 * Detection is by shape, so no SDK is imported. The caller's client is not modified: OpenAI and
 * Anthropic clients are cloned with `withOptions()`, Google's models module is rebuilt on the
 * same API client. Everything not listed as governed passes through untouched.
 */
export async function trust<T extends object, Shape extends ResponseShape = "spec">(
  client: T,
  opts: TrustOpts<Shape> = {},
): Promise<TrustedClient<T, Shape>> {
  const kind = detectClientKind(client);
  if (kind === undefined) {
    throw new UnsupportedClientError(
      "trust() needs an OpenAI, Anthropic or Google SDK client; this object has none of their shapes " +
        "(client.chat.completions.create, client.messages.create, client.models.generateContent).",
    );
  }
  if (kind !== "google" && typeof (client as { withOptions?: unknown }).withOptions !== "function") {
    throw new UnsupportedClientError(
      `trust() needs a ${kind} SDK client with withOptions() (current majors: openai 7, @anthropic-ai/sdk 1); ` +
        "upgrade the SDK.",
    );
  }
  const engine = await createEngine(engineOptions(opts));
  let destroyed = false;
  const destroying = new AbortController();
  const destroyHooks = new Set<() => void>();
  const requestClosers = new Set<() => Promise<void>>();
  const context: CallContext = {
    engine: (): Engine => {
      if (destroyed) throw new ClientDestroyedError();
      return engine;
    },
    onReceipt: opts.onReceipt,
    destroySignal: destroying.signal,
    defaults: contextDefaults(opts),
    onDestroyed: (hook) => {
      destroyHooks.add(hook);
      return () => destroyHooks.delete(hook);
    },
    onDestroying: (hook) => {
      // Registered once destroy() has begun (a call whose authorization was just granted): its
      // request must not be left running either.
      if (destroyed) {
        hook().catch(() => {});
        return () => false;
      }
      requestClosers.add(hook);
      return () => requestClosers.delete(hook);
    },
  };
  const destroy = async (): Promise<void> => {
    destroyed = true;
    destroying.abort(new ClientDestroyedError());
    // Requests in flight and open streams are aborted first, each settling at what it consumed:
    // the engine then voids only holds whose requests never left, not ones the provider is still
    // generating (and billing) for.
    const closing = [...requestClosers].map(async (close) => close());
    requestClosers.clear();
    await Promise.allSettled(closing);
    try {
      await engine.close();
    } finally {
      for (const hook of destroyHooks) hook();
      destroyHooks.clear();
    }
  };
  const spec = opts.shape !== "native";
  const trusted =
    kind === "google"
      ? trustGoogle(client, withEndpoint(context, kind, client), spec, destroy)
      : governClone(cloneOf(client), kind, context, spec, destroy);
  return trusted as TrustedClient<T, Shape>;
}

function cloneOf(client: object, options: object = {}): object {
  const clone = (client as { withOptions(options: object): object }).withOptions(options);
  keepTimeoutUnset(client, clone, options);
  return clone;
}

/**
 * withOptions() writes the client's default timeout into the clone's options, as if the caller had
 * chosen it; @anthropic-ai/sdk then skips its refusal of non-streaming calls that may outlast 10
 * minutes ("Streaming is required…"). A clone of a client that set no timeout keeps none.
 */
function keepTimeoutUnset(client: object, clone: object, options: object): void {
  const original = (client as { _options?: { timeout?: unknown } })._options;
  const cloned = clone as { _options?: { timeout?: unknown } };
  if ("timeout" in options || original === undefined || original.timeout !== undefined) return;
  if (cloned._options !== undefined && cloned._options.timeout !== undefined) {
    cloned._options = { ...cloned._options, timeout: undefined };
  }
}

/** Governs a clone of the caller's client; `withOptions()` on the result governs the new clone too. */
function governClone(
  clone: object,
  kind: keyof typeof STAINLESS_SURFACES,
  clientContext: CallContext,
  spec: boolean,
  destroy: () => Promise<void>,
): object {
  const surface = STAINLESS_SURFACES[kind];
  const context = withEndpoint(clientContext, kind, clone);
  const overrides = new Map<string, unknown>();
  for (const { path, translation } of surface.creates) {
    const owner = ownerOf(clone, path);
    if (owner === undefined) continue;
    const governed = governStainlessCreate(
      owner.method.bind(owner.object) as RawCreate,
      context,
      translation,
    );
    // An own property on the clone's resource: the SDK's helpers call create through it too.
    owner.object[owner.name] = governed;
    if (spec)
      overrides.set(
        path,
        specShaped(governed, (body) => translation.isStream(body), context.onDestroyed),
      );
  }
  const helperOptions = { onDestroying: context.onDestroying };
  for (const path of surface.helpers) {
    const owner = ownerOf(clone, path);
    if (owner !== undefined)
      owner.object[owner.name] = trailedMethod(owner.method.bind(owner.object), helperOptions);
  }
  for (const path of surface.conversations) {
    const owner = ownerOf(clone, path);
    if (owner !== undefined)
      owner.object[owner.name] = trailedConversation(
        owner.method.bind(owner.object),
        THREAD_METHODS,
        helperOptions,
      );
  }
  overrides.set("withOptions", (options: object) =>
    governClone(cloneOf(clone, options), kind, clientContext, spec, destroy),
  );
  overrides.set("destroy", destroy);
  return overridePaths(clone, overrides);
}

/** The context of one client (a clone may name another base URL): its endpoint, when it has one. */
function withEndpoint(context: CallContext, kind: string, client: object): CallContext {
  const endpoint = clientEndpoint(kind, client);
  return endpoint === undefined ? context : { ...context, endpoint };
}

function trustGoogle(
  client: object,
  context: CallContext,
  spec: boolean,
  destroy: () => Promise<void>,
): object {
  const real = client as { models: { apiClient: unknown }; chats?: { apiClient: unknown } };
  const models = governedModels(real.models as Parameters<typeof governedModels>[0], context);
  const modelOverrides = new Map<string, unknown>();
  if (spec) {
    for (const { name, streams } of GOOGLE_METHODS) {
      modelOverrides.set(
        name,
        specShaped(models[name] as Governed, () => streams, context.onDestroyed),
      );
    }
  }
  const overrides = new Map<string, unknown>([
    ["models", overridePaths(models, modelOverrides)],
    ["destroy", destroy],
  ]);
  if (real.chats !== undefined) overrides.set("chats", governedChats(real.chats, models));
  return overridePaths(client, overrides);
}

interface Owner {
  object: Record<string, unknown>;
  name: string;
  method: (...args: unknown[]) => unknown;
}

/** The object owning the method at a dotted path, if the method exists. */
function ownerOf(client: object, path: string): Owner | undefined {
  const keys = path.split(".");
  const name = keys.pop() as string;
  let object: unknown = client;
  for (const key of keys) object = (object as Record<string, unknown> | undefined)?.[key];
  const method = (object as Record<string, unknown> | undefined)?.[name];
  if (typeof method !== "function") return undefined;
  return { object: object as Record<string, unknown>, name, method: method as Owner["method"] };
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

function contextDefaults(opts: TrustOpts): TrustContext {
  const defaults: TrustContext = {};
  if (opts.scope !== undefined) defaults.scope = opts.scope;
  if (opts.actor !== undefined) defaults.actor = opts.actor;
  if (opts.metadata !== undefined) defaults.metadata = opts.metadata;
  return defaults;
}

function engineOptions(opts: TrustOpts): Parameters<typeof createEngine>[0] {
  const options: NonNullable<Parameters<typeof createEngine>[0]> = {};
  if (opts.configPath !== undefined) options.configPath = opts.configPath;
  if (opts.vaultBase !== undefined) options.vaultBase = opts.vaultBase;
  if (opts.budget !== undefined) options.budget = opts.budget;
  if (opts.tier !== undefined) options.tier = opts.tier;
  if (opts.dryRun !== undefined) options.dryRun = opts.dryRun;
  if (opts.actor !== undefined) options.actor = opts.actor;
  if (opts.onEscalate !== undefined) options.onEscalate = opts.onEscalate;
  if (opts.config !== undefined || opts.ledger !== undefined) {
    options.config = { ...opts.config, ...(opts.ledger === undefined ? {} : { ledger: opts.ledger }) };
  }
  return options;
}
