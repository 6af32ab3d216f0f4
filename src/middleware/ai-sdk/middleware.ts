import type { LanguageModelV4CallOptions, LanguageModelV4Content } from "@ai-sdk/provider";
import type { LanguageModelMiddleware } from "ai";
import { outcomeOfError } from "../../core/circuit-breaker.ts";
import type { Engine } from "../../core/engine.ts";
import type { Hold } from "../../core/hold.ts";
import { estimatedUsage } from "../../core/hold-sizing.ts";
import { reportReceipt } from "../../core/surface/receipt-callback.ts";
import { type ChunkRestorer, redactCall } from "../../core/surface/redaction.ts";
import {
  overlayContext,
  parseContext,
  type SurfaceOptions,
  surfaceCallOptions,
  surfaceContext,
  surfaceEngine,
  surfaceSettings,
} from "../../core/surface/shared-engine.ts";
import { withCallerContext } from "../../core/surface/trust-context.ts";
import { callRatePercent, usageFromV4, type V4CallFacts } from "./call-usage.ts";
import { callToGoverned, providerOf } from "./prompt-request.ts";
import { withReceipt } from "./receipt-metadata.ts";
import { meterStream } from "./stream-metering.ts";

export { RECEIPT_KEY } from "./receipt-metadata.ts";
export { OutputCapError } from "./stream-metering.ts";

/** The trust() options (vault, budget, scope, actor, metadata, onReceipt…), or an engine. */
export type UsertrustMiddlewareOptions = SurfaceOptions;

interface PreparedCall {
  hold: Hold;
  restore: ((content: LanguageModelV4Content[]) => void) | undefined;
  /** Puts original values back into a tool call's input (JSON, so they are escaped): the tool runs on them. */
  restoreToolInput?: ((part: { input: string }) => void) | undefined;
  streamRestorer: (() => ChunkRestorer) | undefined;
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
      const { request, inputTokensEstimate } = call.hold.terms;
      const facts: V4CallFacts = {
        providerMetadata: result.providerMetadata,
        requestBody: result.request?.body,
        responseBody: result.response?.body,
        requestedRatePercent: request.tokenRatePercent,
      };
      const usage = usageFromV4(result.usage, request.model, facts);
      const ratePercent = callRatePercent(request.provider, request.model, facts);
      const receipt = await (usage === undefined
        ? call.hold.settle(
            estimatedUsage(inputTokensEstimate, contentBytes(result.content), ratePercent),
            "estimated",
          )
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
      return {
        ...result,
        stream: meterStream(result.stream, { ...call, requestBody: result.request?.body }),
      };
    },
  };
}

async function release(hold: Hold, error: unknown): Promise<void> {
  const reason = error instanceof Error ? error.name : typeof error;
  await hold
    .void(`the provider call failed: ${reason}`, "call_failed", outcomeOfError(error))
    .catch(() => {});
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
