import { UsertrustError } from "../../core/errors.ts";
import {
  type CallContext,
  type CallTranslation,
  meterStream,
  type OpenCall,
  openCall,
  releaseFailedCall,
  type StreamMetering,
  settleResponse,
} from "../governed-call.ts";
import { trackInFlight, withComposedSignal } from "../in-flight-request.ts";
import { openTrail, type ReceiptTrail } from "../receipt-trail.ts";
import { type ApiPromiseLike, GovernedApiPromise, type StartedCall } from "./governed-api-promise.ts";
import { meteredResponse } from "./metered-response.ts";

export type RawCreate = (body: unknown, options?: unknown) => ApiPromiseLike<unknown>;

/**
 * Governs one create method of an OpenAI or Anthropic client and keeps its native return type:
 * authorize (which may refuse) → the SDK's own create (its retries are one logical call, one
 * hold) → settle the response at its usage, meter a stream as it is read, or release the hold
 * when the provider never answered.
 */
export function governStainlessCreate(
  rawCreate: RawCreate,
  context: CallContext,
  translation: CallTranslation,
) {
  return function governedCreate(body: unknown, options?: unknown): GovernedApiPromise<unknown> {
    const trail = openTrail();
    return new GovernedApiPromise(start(rawCreate, context, translation, body, options, trail), trail);
  };
}

async function start(
  rawCreate: RawCreate,
  context: CallContext,
  translation: CallTranslation,
  body: unknown,
  options: unknown,
  trail: ReceiptTrail,
): Promise<StartedCall<unknown>> {
  const call = await openCall(context, translation, body, trail);
  const inFlight = trackInFlight(call, context.onDestroying, context.destroySignal);
  let settlement: Promise<unknown> | undefined;
  let real: ApiPromiseLike<unknown>;
  try {
    const sent = rawCreate(call.sent, withComposedSignal(options, inFlight.signal));
    real = sent._thenUnwrap((data) => {
      // From here a stream's meter, or the settle at the response's usage, owns the hold.
      inFlight.handOver();
      if (call.stream) return meterSdkStream(data, call, context);
      settlement ??= settleResponse(call, translation, data).catch(() => {});
      return data;
    });
  } catch (error) {
    await releaseFailedCall(call, error);
    throw inFlight.failure(error);
  }
  // Observing the raw response does not consume its body; it rejects only when the provider did
  // not answer after the SDK's own retries, or the caller aborted first.
  const failed = real.asResponse().then(
    () => {
      inFlight.responded();
      return false;
    },
    async (error: unknown) => {
      await releaseFailedCall(call, error);
      return true;
    },
  );
  return {
    real,
    call,
    inFlight,
    settled: async () => {
      await settlement;
    },
    metered: (response, abort) => {
      // A streamed body's meter answers destroy() itself; a JSON body is still this request's.
      if (call.stream) inFlight.handOver();
      return meteredResponse(response, call, translation, { onDestroying: context.onDestroying, abort });
    },
    released: async () => {
      // A response that arrived but could not be parsed delivered nothing either.
      if (!(await failed)) await releaseFailedCall(call, new Error("the response could not be read"));
    },
  };
}

interface SdkStream {
  iterator?: unknown;
  [Symbol.asyncIterator]?: unknown;
  controller?: AbortController;
}

/**
 * The SDK's Stream stays the same object (same class, `controller`, `tee()`, `toReadableStream()`).
 * Its chunk source (`iterator`, which iteration, `tee()` and `toReadableStream()` all read through,
 * under any decoration the SDK adds, such as openai's chunk normalization) is replaced by a metered
 * one, and its outer iterator is guarded so that closing it before the first read still settles.
 */
function meterSdkStream(data: unknown, call: OpenCall, context: CallContext): unknown {
  const stream = data as SdkStream;
  const source = stream.iterator;
  const outer = stream[Symbol.asyncIterator];
  const meter = call.meter;
  if (typeof source !== "function" || typeof outer !== "function" || meter === undefined) {
    throw new UsertrustError(
      "UNSUPPORTED_STREAM",
      "usertrust could not meter this SDK stream (it has no `iterator`); this SDK version is not supported.",
    );
  }
  const metering = meterStream(meter, call.hold, {
    abort: () => stream.controller?.abort(),
    aborted: () => stream.controller?.signal.aborted === true,
    restore: call.chunkRestorer?.(),
    onDestroying: context.onDestroying,
  });
  stream.iterator = () => metering.iterate(source.call(stream) as AsyncIterator<unknown>);
  stream[Symbol.asyncIterator] = () => guardUnread(outer.call(stream) as AsyncIterator<unknown>, metering);
  return stream;
}

/** Passes every step through; a `return()` or `throw()` before any `next()` closes the metering unread. */
function guardUnread(
  iterator: AsyncIterator<unknown>,
  metering: StreamMetering<unknown>,
): AsyncIterableIterator<unknown> {
  let read = false;
  const closing = async (): Promise<void> => {
    if (!read) await metering.closeUnread();
  };
  return {
    next: (...args: [] | [unknown]) => {
      read = true;
      return iterator.next(...args);
    },
    return: async (value?: unknown) => {
      await closing();
      return (await iterator.return?.(value)) ?? { done: true, value: undefined };
    },
    throw: async (error?: unknown) => {
      await closing();
      if (iterator.throw === undefined) throw error;
      return iterator.throw(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
