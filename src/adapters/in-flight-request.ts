import { ClientDestroyedError } from "../core/errors.ts";
import type { CallContext, OpenCall } from "./governed-call.ts";

/**
 * One governed request from the moment it is sent until its response is handed over: to the
 * caller (a whole response, settled at its usage) or to a stream meter (which then answers
 * destroy() itself, see meterStream).
 */
export interface InFlightRequest {
  /** Compose into what the SDK listens to (never in place of the caller's own signal). */
  readonly signal: AbortSignal;
  /** Whether destroy() cut this request before its response was handed over. */
  readonly cut: boolean;
  /** Aborts the request (a stream closed before it was read), without counting as destroy()'s cut. */
  abort(): void;
  /**
   * The response has arrived but is not read yet (the SDKs parse it when the caller awaits). A
   * whole response is then complete at the provider, with a cost usertrust cannot see.
   */
  responded(): void;
  /** The response is handed over: what comes next is no longer this request's to cut. */
  handOver(): void;
  /** `error` as the caller should see it: ClientDestroyedError once destroy() cut the request. */
  failure(error: unknown): unknown;
}

/**
 * Tracks a request so that destroy() stops it. The provider keeps generating (and billing) a
 * request nobody aborts, so destroy() aborts it; and since the request left the process, the
 * provider may bill the prompt it read, whether or not it answered: the hold settles at the
 * prompt estimate with no output (`usageSource: "estimated"`) rather than being voided, so the
 * ledger never says a call it cannot vouch for cost nothing. A whole response that had already
 * arrived unread was generated in full: it settles at its whole hold, as a raw body usertrust
 * cannot read does (see asResponse).
 */
export function trackInFlight(
  call: OpenCall,
  onDestroying: CallContext["onDestroying"],
  clientSignal?: AbortSignal,
): InFlightRequest {
  // The client's own signal, which destroy() aborts, when given: an SDK pays for composing every
  // signal it is handed (AbortSignal.any, weak references), and one signal shared by all of a
  // client's requests costs it less than one per call (~30 against ~75 µs of CPU per OpenAI call).
  // Such a request cannot be aborted alone: `abort()` is then not available.
  const controller = clientSignal === undefined ? new AbortController() : undefined;
  let cut = false;
  // destroy() began before this call was tracked: its request has not been sent, and never will be.
  let unsent = true;
  let responded = false;
  const ended = (): Promise<unknown> => {
    if (unsent) return call.hold.void("the client was destroyed before the request was sent", "hold_voided");
    if (responded && !call.stream) return call.hold.settleAtHold();
    // The estimate is neither the provider's success nor its fault: its circuit is not told either.
    return call.hold.settleEstimated(0, "neutral");
  };
  const forget = onDestroying(async () => {
    cut = true;
    controller?.abort(new ClientDestroyedError());
    await ended().catch(() => {});
  });
  unsent = false;
  call.hold.receipt.then(forget, forget);
  return {
    signal: clientSignal ?? (controller as AbortController).signal,
    get cut() {
      return cut;
    },
    abort: () => {
      if (controller === undefined)
        throw new Error("a request on its client's shared signal cannot be aborted alone");
      controller.abort();
    },
    responded: () => {
      responded = true;
    },
    handOver: forget,
    failure: (error) => (cut ? new ClientDestroyedError() : error),
  };
}

/**
 * Request options whose `signal` is the caller's and `ours` composed: either aborts the request.
 * The caller's options object and signal are left as they are (the SDK still listens to that
 * signal, through the composition).
 */
export function withComposedSignal(options: unknown, ours: AbortSignal): object {
  const given = (typeof options === "object" && options !== null ? options : {}) as { signal?: unknown };
  const theirs = given.signal;
  if (theirs === undefined || theirs === null) return { ...given, signal: ours };
  // A signal-like object that is not an AbortSignal cannot be composed: it stays the only one.
  if (!(theirs instanceof AbortSignal)) return given;
  return { ...given, signal: AbortSignal.any([theirs, ours]) };
}
