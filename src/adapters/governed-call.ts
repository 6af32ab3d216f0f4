import { type CallOutcome, outcomeOfError } from "../core/circuit-breaker.ts";
import type { Engine } from "../core/engine.ts";
import type { GovernedRequest } from "../core/governed-request.ts";
import type { Hold } from "../core/hold.ts";
import { estimateOutputTokens } from "../core/hold-sizing.ts";
import type { TrustReceipt } from "../core/receipt.ts";
import { reportReceipt } from "../core/surface/receipt-callback.ts";
import { type ChunkRestorer, redactCall, refuseServerHeldRedaction } from "../core/surface/redaction.ts";
import { type TrustContext, withCallerContext } from "../core/surface/trust-context.ts";
import type { Usage } from "../core/usage.ts";
import type { ReceiptTrail } from "./receipt-trail.ts";

/** What a provider adapter tells the stream meter about each chunk. */
export interface StreamMeter<Chunk> {
  /** Sees every chunk in order; returns false to keep a chunk from the consumer (one we asked for ourselves). */
  observe(chunk: Chunk): boolean;
  /** The provider-reported usage seen so far (the latest snapshot, never a sum of snapshots), if any. */
  usage(): Usage | undefined;
  /** UTF-8 bytes of output received, for an estimate when no usage arrives. */
  outputBytes(): number;
}

/** What one provider method needs translated; everything else about governing a call is shared. */
export interface CallTranslation {
  toGoverned(body: unknown): GovernedRequest;
  isStream(body: unknown): boolean;
  /** The body actually sent for a stream (e.g. asking for usage) and the meter that reads it. */
  streamRequest(body: unknown): { sent: unknown; meter: StreamMeter<never> };
  usageOf(response: unknown): Usage | undefined;
  outputBytesOf(response: unknown): number;
  /** True when a whole response's usage cannot tell the call's cost (e.g. it runs on in the background). */
  settlesAtHold?(body: unknown): boolean;
  /**
   * True when the request continues a conversation the provider keeps (a Responses
   * `previous_response_id` or `conversation`, an Anthropic thread's `continue`), which pii redact
   * cannot protect (see refuseServerHeldRedaction).
   */
  continuesServerContext?(body: unknown): boolean;
}

/** What every governed method of one trusted client shares. */
export interface CallContext {
  engine(): Engine;
  onReceipt: ((receipt: TrustReceipt) => void) | undefined;
  /** Scope, actor and metadata from trust()'s options, under any per-call context. */
  defaults: TrustContext;
  /** The client's base URL origin when it is not the provider's own API (its circuit's name). */
  endpoint?: string;
  /** Runs `hook` once the client has been destroyed; the returned function cancels that. */
  onDestroyed: (hook: () => void) => () => void;
  /**
   * Runs `hook` when destroy() is called, before the engine closes and voids the holds still in
   * flight; destroy() waits for what it returns. Registered once destroy() has begun, it runs at
   * once. The returned function cancels that.
   */
  onDestroying: (hook: () => Promise<void>) => () => void;
  /** Aborted (with ClientDestroyedError) as destroy() begins: the requests of the client listen to it. */
  destroySignal: AbortSignal;
}

/** One model call between authorization and settlement. */
export interface OpenCall {
  readonly hold: Hold;
  readonly stream: boolean;
  /** The body to send: the caller's, or a copy that asks a stream for its usage. */
  readonly sent: unknown;
  readonly meter: StreamMeter<unknown> | undefined;
  /** Puts redacted values back into a whole response (pii redact with restore). */
  readonly restoreResponse: ((response: unknown) => void) | undefined;
  /** A per-stream restorer of chunks (pii redact with restore). */
  readonly chunkRestorer: (() => ChunkRestorer) | undefined;
}

/**
 * Authorizes one model call (which may refuse it) before anything is sent, and records its
 * receipt, or its refusal, on the trail of whatever the caller holds.
 */
export async function openCall(
  context: CallContext,
  translation: CallTranslation,
  body: unknown,
  trail: ReceiptTrail,
): Promise<OpenCall> {
  let hold: Hold;
  try {
    const request = withCallerContext(translation.toGoverned(body), context.defaults);
    if (context.endpoint !== undefined) request.endpoint = context.endpoint;
    hold = await context.engine().authorize(request);
    if (translation.continuesServerContext?.(body) === true) await refuseServerHeldRedaction(hold);
  } catch (error) {
    trail.record(Promise.reject(error));
    throw error;
  }
  trail.record(hold.receipt);
  reportReceipt(hold, context.onReceipt);
  const stream = translation.isStream(body);
  const request = stream ? translation.streamRequest(body) : { sent: body, meter: undefined };
  const redaction = hold.terms.redaction;
  const redacted =
    redaction === undefined ? undefined : redactCall(request.sent, redaction.redactor, redaction.restore);
  return {
    hold,
    stream,
    sent: redacted?.sent ?? request.sent,
    meter: request.meter as StreamMeter<unknown> | undefined,
    restoreResponse: redacted?.restoreResponse,
    chunkRestorer: redacted?.chunkRestorer,
  };
}

/** Settles a whole (non-stream) response at its reported usage, or on an estimate when it has none. */
export function settleResponse(
  call: OpenCall,
  translation: CallTranslation,
  response: unknown,
): Promise<TrustReceipt> {
  let settling: Promise<TrustReceipt>;
  if (translation.settlesAtHold?.(call.sent) === true) settling = call.hold.settleAtHold();
  else {
    const usage = translation.usageOf(response);
    settling = usage
      ? call.hold.settle(usage)
      : call.hold.settleEstimated(translation.outputBytesOf(response));
  }
  // Output is measured as the provider sent it; then the caller gets the redacted values back.
  call.restoreResponse?.(response);
  return settling;
}

/**
 * Releases the hold of a call the provider did not answer (an HTTP error after the SDK's own
 * retries, a refused connection, an abort before the response): nothing was delivered, nothing is
 * spent. Never throws: the caller rethrows the SDK's own error.
 */
export async function releaseFailedCall(call: OpenCall, error: unknown): Promise<void> {
  if (call.hold.ended) return;
  await call.hold
    .void(`the provider call failed: ${describeError(error)}`, "call_failed", outcomeOfError(error))
    .catch(() => {});
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { status?: unknown }).status;
    return typeof status === "number" ? `${error.name} (HTTP ${status})` : error.name;
  }
  return typeof error;
}

/** The metering of one streamed call: the chunk source it wraps, and closing it unread. */
export interface StreamMetering<Chunk> {
  /** Meters `source` as it is read; settles the hold however reading ends. */
  iterate(source: AsyncIterator<Chunk>): AsyncIterableIterator<Chunk>;
  /** For a stream closed before anything was read: aborts the request and settles on nothing consumed. */
  closeUnread(): Promise<void>;
}

/** How the metering of one stream reaches its request and its client. */
export interface MeterControls {
  /** Aborts the request (a stream closed before it was read). */
  abort(): void;
  /** Whether the request was aborted: SDK streams end quietly then, which is not completion. */
  aborted?(): boolean;
  /** Restores redacted values in chunks before the consumer sees them. */
  restore?: ChunkRestorer | undefined;
  /** The client's destroy() hooks (CallContext.onDestroying), for as long as the hold is open. */
  onDestroying?: CallContext["onDestroying"];
}

/**
 * Meters a provider stream as the consumer reads it and settles the hold on every terminal path:
 * completion, `break`, `return()` before the first chunk, a mid-stream error, an abort.
 *
 * What a stream that ends early costs: the provider bills what it generated, so the hold settles
 * at the usage reported so far, with output never less than the bytes actually received (a stream
 * cut before its final usage event would otherwise under-report); with no usage at all, at the
 * prompt estimate plus the output received.
 *
 * destroy() while the hold is open aborts the request, so the provider stops generating and the
 * socket closes, and the hold settles at what was consumed, as for any stream cut short: one
 * never read at the prompt estimate (the provider read the prompt), one being read at what it
 * delivered.
 */
export function meterStream<Chunk>(
  meter: StreamMeter<Chunk>,
  hold: Hold,
  controls: MeterControls,
): StreamMetering<Chunk> {
  const { abort, restore } = controls;
  const aborted = controls.aborted ?? (() => false);
  let completed = false;
  let started = false;
  let failure: { error: unknown } | undefined;
  const settle = (): Promise<void> =>
    settleStream(meter, hold, completed, failure === undefined ? "success" : outcomeOfError(failure.error));
  const closeUnread = async (): Promise<void> => {
    if (started) return;
    started = true;
    abort();
    await settle();
  };
  const closeOnDestroy = async (): Promise<void> => {
    // A read that starts after this finds the request aborted and nothing to deliver.
    started = true;
    abort();
    await settle();
  };
  const forget = controls.onDestroying?.(closeOnDestroy);
  if (forget !== undefined) hold.receipt.then(forget, forget);
  const iterate = (source: AsyncIterator<Chunk>): AsyncIterableIterator<Chunk> => {
    async function* chunks(): AsyncGenerator<Chunk> {
      // With restore, chunks wait while a placeholder may be split across them (see ChunkRestorer).
      const held: Chunk[] = [];
      try {
        for await (const chunk of { [Symbol.asyncIterator]: () => source }) {
          if (!meter.observe(chunk)) continue;
          if (restore === undefined) {
            yield chunk;
            continue;
          }
          restore.chunk(chunk);
          held.push(chunk);
          if (!restore.pending()) yield* held.splice(0);
        }
        restore?.finish();
        yield* held.splice(0);
        // SDK streams end quietly when their request is aborted; that is not a completed stream.
        completed = !aborted();
      } catch (error) {
        failure = { error };
        // What was received before a failure still reaches the consumer, then the failure.
        restore?.finish();
        yield* held.splice(0);
        throw error;
      } finally {
        await settle();
      }
    }
    const generator = chunks();
    // A generator closed before its first next() never runs its finally, so closing early is
    // handled here: the request is aborted and the hold settles on what was consumed (nothing).
    const closeUnstarted = async (): Promise<void> => {
      if (started) return;
      await closeUnread();
      await source.return?.().catch(() => {});
    };
    return {
      next: () => {
        started = true;
        return generator.next();
      },
      return: async (value?: unknown) => {
        await closeUnstarted();
        return generator.return(value);
      },
      throw: async (error?: unknown) => {
        await closeUnstarted();
        return generator.throw(error);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  };
  return { iterate, closeUnread };
}

/**
 * Settles a streamed call at what its meter saw. A settle failure surfaces on the receipt; it must
 * not replace the stream's own outcome, so this never rejects. `outcome`: a stream the provider
 * broke off is a fault for its circuit breaker (a consumer's abort is not).
 */
export async function settleStream<Chunk>(
  meter: StreamMeter<Chunk>,
  hold: Hold,
  completed: boolean,
  outcome: CallOutcome = "success",
): Promise<void> {
  const usage = meter.usage();
  const settling =
    usage === undefined
      ? hold.settleEstimated(meter.outputBytes(), outcome)
      : hold.settle(completed ? usage : atLeastReceived(usage, meter.outputBytes()), "provider", outcome);
  await settling.catch(() => {});
}

function atLeastReceived(usage: Usage, outputBytes: number): Usage {
  const received = estimateOutputTokens(outputBytes);
  return received > usage.outputTokens ? { ...usage, outputTokens: received } : usage;
}
