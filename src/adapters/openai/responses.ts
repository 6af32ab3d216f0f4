import { Buffer } from "node:buffer";
import { withServedTier } from "../../core/surface/openai-service-tiers.ts";
import { makeUsage, type Usage } from "../../core/usage.ts";
import type { CallTranslation, StreamMeter } from "../governed-call.ts";
import { type OpenAIInputDetails, type OpenAIOutputDetails, usageFromOpenAICounts } from "./chat-usage.ts";
import { responsesRequestToGoverned } from "./responses-request.ts";

interface ResponsesUsage {
  input_tokens?: number;
  output_tokens?: number;
  input_tokens_details?: OpenAIInputDetails | null;
  output_tokens_details?: OpenAIOutputDetails | null;
}

/**
 * The Responses API reports cached tokens and cache writes inside input_tokens (split out here,
 * priced at the cache-read and cache-write rates) and reasoning tokens inside output_tokens.
 */
function usageFromResponses(usage: unknown): Usage | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  const reported = usage as ResponsesUsage;
  if (typeof reported.input_tokens !== "number" && typeof reported.output_tokens !== "number")
    return undefined;
  return usageFromOpenAICounts(
    reported.input_tokens,
    reported.input_tokens_details,
    reported.output_tokens,
    reported.output_tokens_details,
  );
}

/**
 * A whole response's usage with its tool fees: each `web_search_call` and `file_search_call` output
 * item is one billed call of that tool, which the usage object does not count. Tokens are priced at
 * the rate of the service tier the response says served it (`service_tier`, for its `model`).
 */
export function usageOfResponse(response: unknown): Usage | undefined {
  const {
    usage,
    output,
    model,
    service_tier: tier,
  } = (response ?? {}) as { usage?: unknown; output?: unknown; model?: unknown; service_tier?: unknown };
  const reported = usageFromResponses(usage);
  if (reported === undefined) return undefined;
  const tokens = withServedTier(reported, model, tier);
  const count = (type: string): number =>
    Array.isArray(output)
      ? output.filter((item) => (item as { type?: unknown } | null)?.type === type).length
      : 0;
  const searches = count("web_search_call");
  const fileSearches = count("file_search_call");
  if (searches === 0 && fileSearches === 0) return tokens;
  return makeUsage({ ...tokens, webSearchRequests: searches, fileSearchRequests: fileSearches });
}

/** UTF-8 bytes of a response's output items (message text, tool-call arguments), for estimates. */
function responseOutputBytes(output: unknown): number {
  if (!Array.isArray(output)) return 0;
  let bytes = 0;
  for (const item of output) {
    const { content, arguments: args } = (item ?? {}) as { content?: unknown; arguments?: unknown };
    if (typeof args === "string") bytes += Buffer.byteLength(args, "utf8");
    if (!Array.isArray(content)) continue;
    for (const part of content) {
      const text = (part as { text?: unknown } | null)?.text;
      if (typeof text === "string") bytes += Buffer.byteLength(text, "utf8");
    }
  }
  return bytes;
}

interface ResponseEvent {
  type?: string;
  delta?: unknown;
  response?: { usage?: unknown; output?: unknown };
}

/** The final event (completed, incomplete or failed) carries the whole response with its usage. */
class ResponsesStreamMeter implements StreamMeter<ResponseEvent> {
  #usage: Usage | undefined;
  #outputBytes = 0;

  observe(event: ResponseEvent): boolean {
    if (typeof event.delta === "string") this.#outputBytes += Buffer.byteLength(event.delta, "utf8");
    const usage = usageOfResponse(event.response);
    if (usage) this.#usage = usage;
    return true;
  }

  usage(): Usage | undefined {
    return this.#usage;
  }

  outputBytes(): number {
    return this.#outputBytes;
  }
}

interface ResponsesBody {
  stream?: unknown;
  background?: unknown;
}

/**
 * responses.create, plain and streaming (also reached by responses.stream and responses.parse).
 * A background response returns before the model has run, with no usage: it settles at its whole
 * hold, the most it may cost, since its real cost is never reported on this call.
 */
export const responsesTranslation: CallTranslation = {
  toGoverned: responsesRequestToGoverned,
  isStream: (body) => (body as ResponsesBody).stream === true,
  streamRequest: (body) => ({ sent: body, meter: new ResponsesStreamMeter() }),
  usageOf: usageOfResponse,
  outputBytesOf: (response) => responseOutputBytes((response as { output?: unknown }).output),
  settlesAtHold: (body) => (body as ResponsesBody).background === true,
};
