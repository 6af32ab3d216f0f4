import type {
  JSONObject,
  LanguageModelV4CallOptions,
  LanguageModelV4Content,
  LanguageModelV4StreamPart,
  SharedV4ProviderMetadata,
} from "@ai-sdk/provider";
import type { LanguageModelMiddleware } from "ai";
import { outcomeOfError } from "../../core/circuit-breaker.ts";
import type { Engine } from "../../core/engine.ts";
import { UsertrustError } from "../../core/errors.ts";
import type { Hold } from "../../core/hold.ts";
import { estimateOutputTokens } from "../../core/hold-sizing.ts";
import { costUsertokens } from "../../core/price-book.ts";
import type { TrustReceipt } from "../../core/receipt.ts";
import { usageFromAnthropic } from "../../core/surface/anthropic-usage.ts";
import { reportReceipt } from "../../core/surface/receipt-callback.ts";
import { type ChunkRestorer, redactCall } from "../../core/surface/redaction.ts";
import {
  overlayContext,
  parseContext,
  receiptJson,
  type SurfaceOptions,
  surfaceCallOptions,
  surfaceContext,
  surfaceEngine,
  surfaceSettings,
} from "../../core/surface/shared-engine.ts";
import { withCallerContext } from "../../core/surface/trust-context.ts";
import { makeUsage, type Usage } from "../../core/usage.ts";
import { usageFromV4 } from "./call-usage.ts";
import { callToGoverned, providerOf } from "./prompt-request.ts";

/** The trust() options (vault, budget, scope, actor, metadata, onReceipt…), or an engine. */
export type UsertrustMiddlewareOptions = SurfaceOptions;

/** The receipt's key in `providerMetadata`. */
export const RECEIPT_KEY = "usertrust";

interface PreparedCall {
  hold: Hold;
  restore: ((content: LanguageModelV4Content[]) => void) | undefined;
  /** Puts original values back into a tool call's input (JSON, so they are escaped): the tool runs on them. */
  restoreToolInput?: ((part: { input: string }) => void) | undefined;
  streamRestorer: (() => ChunkRestorer) | undefined;
}

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

/**
 * Language-model middleware for the Vercel AI SDK (v7, LanguageModelV4): every model call —
 * each step of a tool loop, each retry attempt — is authorized (which may refuse it before the
 * provider is called), then settled from the V4 usage parts, with its receipt as JSON in
 * `providerMetadata.usertrust`.
 *
 *   const model = wrapLanguageModel({ model: openai("gpt-4o-mini"), middleware: usertrustMiddleware({ budget: 50_000 }) });
 */
export function usertrustMiddleware(
  options: UsertrustMiddlewareOptions | Engine = {},
): LanguageModelMiddleware {
  const settings = surfaceSettings(options);
  const prepared = new WeakMap<object, PreparedCall>();
  const engine = surfaceEngine(settings);
  const defaults = surfaceContext(settings);
  const callOptions = surfaceCallOptions(settings);

  return {
    specificationVersion: "v4",

    async transformParams({ params, model }) {
      const { usertrust, ...providerOptions } = params.providerOptions ?? {};
      const stripped: LanguageModelV4CallOptions = { ...params };
      if (Object.keys(providerOptions).length > 0) stripped.providerOptions = providerOptions;
      else delete stripped.providerOptions;
      const request = overlayContext(
        withCallerContext(callToGoverned(stripped, providerOf(model.provider), model.modelId), defaults),
        parseContext(usertrust),
      );
      const hold = await (await engine()).authorize(request, callOptions);
      reportReceipt(hold, settings.onReceipt);
      const redaction = hold.terms.redaction;
      if (redaction === undefined) {
        prepared.set(stripped, { hold, restore: undefined, streamRestorer: undefined });
        return stripped;
      }
      const redacted = redactCall(stripped.prompt, redaction.redactor, redaction.restore);
      const sent: LanguageModelV4CallOptions = {
        ...stripped,
        prompt: redacted.sent as LanguageModelV4CallOptions["prompt"],
      };
      prepared.set(sent, {
        hold,
        restore:
          redacted.restoreResponse === undefined
            ? undefined
            : (content) => {
                for (const part of content) {
                  if (part.type === "text" || part.type === "reasoning") redacted.restoreResponse?.(part);
                  else if (part.type === "tool-call") restoreToolInput(part, redacted.restoreResponse);
                }
              },
        restoreToolInput:
          redacted.restoreResponse === undefined
            ? undefined
            : (part) => restoreToolInput(part, redacted.restoreResponse),
        streamRestorer: redacted.chunkRestorer,
      });
      return sent;
    },

    async wrapGenerate({ doGenerate, params }) {
      const call = prepared.get(params);
      if (call === undefined) return doGenerate();
      let result: Awaited<ReturnType<typeof doGenerate>>;
      try {
        result = await doGenerate();
      } catch (error) {
        await release(call.hold, error);
        throw error;
      }
      const usage = usageFromV4(result.usage, call.hold.terms.request.model, {
        providerMetadata: result.providerMetadata,
        requestedRatePercent: call.hold.terms.request.tokenRatePercent,
      });
      const receipt = await (usage === undefined
        ? call.hold.settleEstimated(contentBytes(result.content))
        : call.hold.settle(usage));
      call.restore?.(result.content);
      return { ...result, providerMetadata: withReceipt(result.providerMetadata, receipt) };
    },

    async wrapStream({ doStream, params }) {
      const call = prepared.get(params);
      if (call === undefined) return doStream();
      let result: Awaited<ReturnType<typeof doStream>>;
      try {
        result = await doStream();
      } catch (error) {
        await release(call.hold, error);
        throw error;
      }
      return { ...result, stream: drainMetered(result.stream, meteredParts(call)) };
    },
  };
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
 * consumed. When the running output, counted as few tokens as it can be, costs more than the hold,
 * the stream ends with an error part (OutputCapError) and settles what was consumed.
 */
function meteredParts(call: PreparedCall): MeteredParts {
  const { hold } = call;
  const { rates, inputTokensEstimate, holdUsertokens } = hold.terms;
  const restorer = call.streamRestorer?.();
  const held: LanguageModelV4StreamPart[] = [];
  let outputBytes = 0;
  let reported: Usage | undefined;
  let capped = false;
  const consumed = (): Usage => {
    const received = estimateOutputTokens(outputBytes);
    if (reported !== undefined) {
      return reported.outputTokens >= received ? reported : { ...reported, outputTokens: received };
    }
    return makeUsage({ inputTokens: inputTokensEstimate, outputTokens: received });
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
        reported = usageFromV4(part.usage, hold.terms.request.model, {
          providerMetadata: part.providerMetadata,
          requestedRatePercent: hold.terms.request.tokenRatePercent,
        });
        const receipt = await (reported === undefined
          ? hold.settleEstimated(outputBytes)
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
        );
        if (early !== undefined) reported = early;
      }
      if (part.type === "text-delta" || part.type === "reasoning-delta" || part.type === "tool-input-delta") {
        outputBytes += Buffer.byteLength(part.delta, "utf8");
        const fewestTokens = Math.ceil(outputBytes / CAP_BYTES_PER_TOKEN);
        if (
          costUsertokens(rates, makeUsage({ inputTokens: inputTokensEstimate, outputTokens: fewestTokens })) >
          holdUsertokens
        ) {
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

/**
 * Reads the provider's stream to its end on our own, whether or not the consumer keeps reading:
 * the provider bills the whole generation, and in ai 7 breaking out of streamText's stream does
 * not cancel the model's stream, so a hold would otherwise wait for its timeout. Parts are
 * queued for the consumer. Only a real cancel (abortSignal) stops the request early; the hold then
 * settles at what was consumed.
 */
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

interface MeteredParts {
  transform(part: LanguageModelV4StreamPart, sink: PartSink): Promise<void>;
  flush(sink: PartSink): Promise<void>;
  fail(): Promise<void>;
}

async function release(hold: Hold, error: unknown): Promise<void> {
  const reason = error instanceof Error ? error.name : typeof error;
  await hold
    .void(`the provider call failed: ${reason}`, "call_failed", outcomeOfError(error))
    .catch(() => {});
}

function withReceipt(
  metadata: SharedV4ProviderMetadata | undefined,
  receipt: TrustReceipt,
): SharedV4ProviderMetadata {
  return { ...metadata, [RECEIPT_KEY]: receiptJson(receipt) as JSONObject };
}

function contentBytes(content: readonly LanguageModelV4Content[]): number {
  let bytes = 0;
  for (const part of content) {
    if (part.type === "text" || part.type === "reasoning") bytes += Buffer.byteLength(part.text, "utf8");
    else if (part.type === "tool-call") bytes += Buffer.byteLength(part.input, "utf8");
  }
  return bytes;
}

/** A tool call's input is JSON source: restored as OpenAI `arguments` are, values escaped. */
function restoreToolInput(
  part: { input: string },
  restoreResponse: ((response: unknown) => void) | undefined,
): void {
  const holder = { arguments: part.input };
  restoreResponse?.(holder);
  part.input = holder.arguments;
}
