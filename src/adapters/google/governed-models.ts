import { ClientDestroyedError, UnsupportedClientError } from "../../core/errors.ts";
import {
  type CallContext,
  type CallTranslation,
  meterStream,
  openCall,
  releaseFailedCall,
  settleResponse,
} from "../governed-call.ts";
import { trailedMethod } from "../helper-trail.ts";
import { trackInFlight, withComposedSignal } from "../in-flight-request.ts";
import { attachTrail, openTrail } from "../receipt-trail.ts";
import {
  embedContentTranslation,
  generateContentStreamTranslation,
  generateContentTranslation,
} from "./translations.ts";

type Method = (params: unknown) => Promise<unknown>;

interface ModelsModule {
  apiClient: unknown;
  [name: string]: unknown;
}

/**
 * The SDK methods that send one model request each. The public methods (generateContent,
 * generateContentStream, embedContent) loop over these for automatic function calling and
 * automatic continuation, so governing here gives every request its own hold and its own usage.
 */
const ONE_REQUEST_METHODS: ReadonlyArray<[string, CallTranslation]> = [
  ["generateContentInternal", generateContentTranslation],
  ["generateContentStreamInternal", generateContentStreamTranslation],
  ["embedContentInternal", embedContentTranslation],
];

const PUBLIC_METHODS = ["generateContent", "generateContentStream", "embedContent"] as const;

/**
 * A new `Models` module of the same class on the same API client, with its one-request methods
 * governed. The caller's client is not modified. Chats built on it are governed too.
 */
export function governedModels(real: ModelsModule, context: CallContext): ModelsModule {
  const Models = real.constructor as new (apiClient: unknown) => ModelsModule;
  const models = new Models(real.apiClient);
  for (const [name, translation] of ONE_REQUEST_METHODS) {
    const raw = models[name];
    if (typeof raw !== "function") throw unsupported(name);
    models[name] = governOneRequest((raw as Method).bind(models), context, translation);
  }
  for (const name of PUBLIC_METHODS) {
    const method = models[name];
    if (typeof method !== "function") throw unsupported(name);
    models[name] = trailedMethod(method as Method);
  }
  return models;
}

/**
 * A `Chats` module of the same class whose chats send through the governed models; each chat's
 * sendMessage / sendMessageStream result answers `receiptOf`.
 */
export function governedChats(real: { apiClient: unknown }, models: ModelsModule): object {
  const Chats = real.constructor as new (models: unknown, apiClient: unknown) => { create: Method };
  const chats = new Chats(models, real.apiClient);
  const create = chats.create.bind(chats);
  chats.create = ((params: unknown) => {
    const chat = create(params) as unknown as Record<string, unknown>;
    for (const name of ["sendMessage", "sendMessageStream"]) {
      const send = chat[name];
      if (typeof send === "function") chat[name] = trailedMethod((send as Method).bind(chat));
    }
    return chat;
  }) as unknown as Method;
  return chats;
}

function governOneRequest(raw: Method, context: CallContext, translation: CallTranslation): Method {
  return async (params) => {
    const trail = openTrail();
    const call = await openCall(context, translation, params, trail);
    // destroy(), or a stream closed before its first read, aborts the request through a signal
    // of our own alongside the caller's.
    const inFlight = trackInFlight(call, context.onDestroying);
    let response: unknown;
    try {
      response = await raw(withAbortSignal(call.sent, inFlight.signal));
    } catch (error) {
      await releaseFailedCall(call, error);
      throw inFlight.failure(error);
    }
    if (inFlight.cut) throw new ClientDestroyedError();
    // From here a stream's meter, or the settle at the response's usage, owns the hold.
    inFlight.handOver();
    if (call.stream && call.meter !== undefined) {
      const chunks = (response as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      const metered = meterStream(call.meter, call.hold, {
        abort: () => inFlight.abort(),
        restore: call.chunkRestorer?.(),
        onDestroying: context.onDestroying,
      }).iterate(chunks);
      attachTrail(metered, trail);
      return metered;
    }
    await settleResponse(call, translation, response).catch(() => {});
    attachTrail(response, trail);
    return response;
  };
}

/** Gemini takes its abort signal in `config.abortSignal`: the caller's, composed with ours. */
function withAbortSignal(params: unknown, signal: AbortSignal): unknown {
  const fields = params as { config?: { abortSignal?: unknown } };
  const composed = withComposedSignal({ signal: fields.config?.abortSignal }, signal) as {
    signal?: unknown;
  };
  return { ...fields, config: { ...fields.config, abortSignal: composed.signal } };
}

function unsupported(name: string): UnsupportedClientError {
  return new UnsupportedClientError(
    `trust() needs @google/genai 3 (tested): its models module has no \`${name}\` method to govern.`,
  );
}
