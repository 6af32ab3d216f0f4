import { UsertrustError } from "../../core/errors.ts";
import {
  type CallContext,
  type CallTranslation,
  meterIterator,
  type OpenCall,
  openCall,
  releaseFailedCall,
  settleResponse,
} from "../governed-call.ts";
import { openTrail, type ReceiptTrail } from "../receipt-trail.ts";
import { type ApiPromiseLike, GovernedApiPromise, type StartedCall } from "./governed-api-promise.ts";

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
  let settlement: Promise<unknown> | undefined;
  let real: ApiPromiseLike<unknown>;
  try {
    const sent = options === undefined ? rawCreate(call.sent) : rawCreate(call.sent, options);
    real = sent._thenUnwrap((data) => {
      if (call.stream) return meterSdkStream(data, call);
      settlement ??= settleResponse(call, translation, data).catch(() => {});
      return data;
    });
  } catch (error) {
    await releaseFailedCall(call, error);
    throw error;
  }
  // Observing the raw response does not consume its body; it rejects only when the provider did
  // not answer after the SDK's own retries, or the caller aborted first.
  const failed = real.asResponse().then(
    () => false,
    async (error: unknown) => {
      await releaseFailedCall(call, error);
      return true;
    },
  );
  return {
    real,
    call,
    settled: async () => {
      await settlement;
    },
    released: async () => {
      // A response that arrived but could not be parsed delivered nothing either.
      if (!(await failed)) await releaseFailedCall(call, new Error("the response could not be read"));
    },
  };
}

interface SdkStream {
  [Symbol.asyncIterator]?: unknown;
  controller?: AbortController;
}

/**
 * The SDK's Stream stays the same object (same class, `controller`, `tee()`, `toReadableStream()`);
 * only its outermost iterator is replaced by a metered one. Outermost, because the SDK may itself
 * decorate the iterator (openai normalizes chat chunks this way), and `tee()` and
 * `toReadableStream()` read through it too.
 */
function meterSdkStream(data: unknown, call: OpenCall): unknown {
  const stream = data as SdkStream;
  const source = stream[Symbol.asyncIterator];
  const meter = call.meter;
  if (typeof source !== "function" || meter === undefined) {
    throw new UsertrustError(
      "UNSUPPORTED_STREAM",
      "usertrust could not meter this SDK stream (it is not async-iterable); this SDK version is not supported.",
    );
  }
  stream[Symbol.asyncIterator] = () =>
    meterIterator(source.call(stream) as AsyncIterator<unknown>, meter, call.hold, () =>
      stream.controller?.abort(),
    );
  return stream;
}
