import type { LanguageModelV4StreamPart } from "@ai-sdk/provider";
import { UsertrustError } from "../../core/errors.ts";
import type { Hold } from "../../core/hold.ts";
import { estimatedUsage, estimateOutputTokens } from "../../core/hold-sizing.ts";
import { costUsertokens } from "../../core/price-book.ts";
import { usageFromAnthropic } from "../../core/surface/anthropic-usage.ts";
import type { ChunkRestorer } from "../../core/surface/redaction.ts";
import { makeUsage, type Usage } from "../../core/usage.ts";
import { callRatePercent, usageFromV4, type V4CallFacts } from "./call-usage.ts";
import { withReceipt } from "./receipt-metadata.ts";

/** The output cap a stream hit: its running cost passed its hold. */
export class OutputCapError extends UsertrustError {
  constructor(holdUsertokens: number) {
    super(
      "OUTPUT_CAP",
      `The stream was stopped: its output had reached the ${holdUsertokens} UT held for this call. ` +
        "Raise maxOutputTokens (the hold is sized from it) or the budget.",
    );
  }
}

/** One streamed call: its hold, how its output is restored, and the body the provider sent. */
export interface MeteredCall {
  hold: Hold;
  streamRestorer: (() => ChunkRestorer) | undefined;
  /** Puts original values back into a tool call's input (JSON, so they are escaped): the tool runs on them. */
  restoreToolInput?: ((part: { input: string }) => void) | undefined;
  /** doStream's `request.body`: the service tier or speed the call was sent at. */
  requestBody: unknown;
}

/**
 * A V4 stream, metered (see meteredParts) and read to its end on our own, whether or not the
 * consumer keeps reading: the provider bills the whole generation, and in ai 7 breaking out of
 * streamText's stream does not cancel the model's stream, so a hold would otherwise wait for its
 * timeout. Parts are queued for the consumer. Only a real cancel (abortSignal) stops the request
 * early; the hold then settles at what was consumed.
 */
export function meterStream(
  source: ReadableStream<LanguageModelV4StreamPart>,
  call: MeteredCall,
): ReadableStream<LanguageModelV4StreamPart> {
  return drainMetered(source, meteredParts(call));
}

/**
 * The output cap counts tokens as few as text can have: real text averages 3–5 UTF-8 bytes a token
 * and hardly ever 8 over a whole reply, so a model that keeps to its maxOutputTokens is never cut,
 * and one that ignores it is stopped by about twice its cap. (What is settled still counts the
 * received text generously, at 3 bytes a token.)
 */
const CAP_BYTES_PER_TOKEN = 8;

/**
 * Meters a V4 stream: settles at the `finish` part's usage (and puts the receipt on it), or — when
 * the stream errors, is cancelled by the consumer, or ends without `finish` — at what was
 * consumed, at the rate of the tier (or speed) the request was sent at. When the running output,
 * counted as few tokens as it can be, costs more than the hold (both at the hold's rate), the
 * stream ends with an error part (OutputCapError) and settles what was consumed.
 */
function meteredParts(call: MeteredCall): MeteredParts {
  const { hold } = call;
  const { rates, inputTokensEstimate, holdUsertokens, request } = hold.terms;
  const sent: V4CallFacts = { requestBody: call.requestBody, requestedRatePercent: request.tokenRatePercent };
  const consumedRatePercent = callRatePercent(request.provider, request.model, sent);
  const restorer = call.streamRestorer?.();
  const held: LanguageModelV4StreamPart[] = [];
  let outputBytes = 0;
  let reported: Usage | undefined;
  let capped = false;
  const consumed = (): Usage => {
    if (reported === undefined) return estimatedUsage(inputTokensEstimate, outputBytes, consumedRatePercent);
    const received = estimateOutputTokens(outputBytes);
    return reported.outputTokens >= received ? reported : { ...reported, outputTokens: received };
  };
  const settleConsumed = async (): Promise<void> => {
    if (hold.ended) return;
    await hold.settle(consumed(), reported === undefined ? "estimated" : "provider").catch(() => {});
  };
  const emit = (controller: PartSink, part: LanguageModelV4StreamPart): void => {
    if (restorer === undefined) {
      controller.enqueue(part);
      return;
    }
    held.push(part);
    if (!restorer.pending()) for (const ready of held.splice(0)) controller.enqueue(ready);
  };
  const flushHeld = (controller: PartSink): void => {
    restorer?.finish();
    for (const ready of held.splice(0)) controller.enqueue(ready);
  };
  const transformer: MeteredParts = {
    async transform(part, controller) {
      if (capped) return;
      if (part.type === "finish") {
        reported = usageFromV4(part.usage, request.model, {
          ...sent,
          providerMetadata: part.providerMetadata,
        });
        const receipt = await (reported === undefined
          ? hold.settle(estimatedUsage(inputTokensEstimate, outputBytes, consumedRatePercent), "estimated")
          : hold.settle(reported));
        flushHeld(controller);
        controller.enqueue({ ...part, providerMetadata: withReceipt(part.providerMetadata, receipt) });
        return;
      }
      if (part.type === "custom") {
        // @ai-sdk/anthropic passes message_start on as a custom part: the input side of the usage,
        // which is what a stream cut before `finish` still costs.
        const early = usageFromAnthropic(
          (part.providerMetadata?.anthropic as { usage?: unknown } | undefined)?.usage,
          request.model,
        );
        if (early !== undefined) reported = early;
      }
      if (part.type === "text-delta" || part.type === "reasoning-delta" || part.type === "tool-input-delta") {
        outputBytes += Buffer.byteLength(part.delta, "utf8");
        const fewestTokens = Math.ceil(outputBytes / CAP_BYTES_PER_TOKEN);
        const fewest = makeUsage({
          inputTokens: inputTokensEstimate,
          outputTokens: fewestTokens,
          tokenRatePercent: request.tokenRatePercent,
        });
        if (costUsertokens(rates, fewest) > holdUsertokens) {
          capped = true;
          flushHeld(controller);
          await settleConsumed();
          controller.enqueue({ type: "error", error: new OutputCapError(holdUsertokens) });
          controller.terminate();
          return;
        }
        if (part.type === "tool-input-delta") {
          // The deltas show the input as it is written; the tool runs on the tool-call part's.
          emit(controller, part);
          return;
        }
        if (part.type === "text-delta" && restorer !== undefined) {
          const copy = { ...part };
          restorer.chunk(copy);
          emit(controller, copy);
          return;
        }
      }
      if (part.type === "tool-call" && call.restoreToolInput !== undefined) {
        const copy = { ...part };
        call.restoreToolInput(copy);
        emit(controller, copy);
        return;
      }
      emit(controller, part);
    },
    async flush(controller) {
      flushHeld(controller);
      await settleConsumed();
    },
    // The stream failed or the consumer cancelled (abortSignal): settle what was consumed.
    async fail() {
      await settleConsumed();
    },
  };
  return transformer;
}

/** Where metered parts go; `terminate` ends the stream early (the output cap). */
interface PartSink {
  enqueue(part: LanguageModelV4StreamPart): void;
  terminate(): void;
}

interface MeteredParts {
  transform(part: LanguageModelV4StreamPart, sink: PartSink): Promise<void>;
  flush(sink: PartSink): Promise<void>;
  fail(): Promise<void>;
}

/** Reads `source` to its end through `metered` (see meterStream); a consumer's cancel stops it. */
function drainMetered(
  source: ReadableStream<LanguageModelV4StreamPart>,
  metered: MeteredParts,
): ReadableStream<LanguageModelV4StreamPart> {
  const reader = source.getReader();
  let stopped = false;
  return new ReadableStream<LanguageModelV4StreamPart>({
    start(controller) {
      const sink: PartSink = {
        enqueue: (part) => {
          if (!stopped) controller.enqueue(part);
        },
        terminate: () => {
          if (stopped) return;
          stopped = true;
          controller.close();
          reader.cancel().catch(() => {});
        },
      };
      void (async () => {
        try {
          for (;;) {
            const step = await reader.read();
            if (step.done || stopped) break;
            await metered.transform(step.value, sink);
          }
          if (stopped) return;
          await metered.flush(sink);
          stopped = true;
          controller.close();
        } catch (error) {
          await metered.fail();
          if (!stopped) {
            stopped = true;
            controller.error(error);
          }
        }
      })();
    },
    async cancel(reason) {
      stopped = true;
      await reader.cancel(reason).catch(() => {});
      await metered.fail();
    },
  });
}
