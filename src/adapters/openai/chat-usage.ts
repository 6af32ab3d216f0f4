import { Buffer } from "node:buffer";
import { withServedTier } from "../../core/surface/openai-service-tiers.ts";
import { type Usage, usageFromInclusiveCounts } from "../../core/usage.ts";
import type { StreamMeter } from "../governed-call.ts";

/** The breakdown of a prompt count, the same in Chat Completions and the Responses API. */
export interface OpenAIInputDetails {
  cached_tokens?: number | null;
  cache_write_tokens?: number | null;
  audio_tokens?: number | null;
  image_tokens?: number | null;
  cached_tokens_details?: { audio_tokens?: number | null; image_tokens?: number | null } | null;
}

/** The breakdown of an output count. */
export interface OpenAIOutputDetails {
  audio_tokens?: number | null;
  image_tokens?: number | null;
}

interface OpenAIUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: OpenAIInputDetails | null;
  completion_tokens_details?: OpenAIOutputDetails | null;
}

/**
 * OpenAI reports cached prompt tokens and cache writes (GPT-5.6 and later) inside prompt_tokens;
 * split them out so they are priced at the cache-read and cache-write rates and not again as
 * input. completion_tokens already includes reasoning tokens. Audio and image tokens are parts of
 * the prompt and completion counts, kept apart to be priced at their own rates.
 */
export function usageFromOpenAI(usage: unknown): Usage | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  const reported = usage as OpenAIUsage;
  if (typeof reported.prompt_tokens !== "number" && typeof reported.completion_tokens !== "number")
    return undefined;
  return usageFromOpenAICounts(
    reported.prompt_tokens,
    reported.prompt_tokens_details,
    reported.completion_tokens,
    reported.completion_tokens_details,
  );
}

/**
 * A whole completion's usage, at the rate of the service tier that served it: the response's
 * `service_tier` says (priority is billed above standard, flex below), and its `model` sets the
 * priority rate.
 */
export function usageOfCompletion(response: unknown): Usage | undefined {
  const { usage, model, service_tier: tier } = (response ?? {}) as CompletionFields;
  const tokens = usageFromOpenAI(usage);
  return tokens === undefined ? undefined : withServedTier(tokens, model, tier);
}

/** What a completion (or a stream chunk) says about the call besides its choices. */
interface CompletionFields {
  usage?: unknown;
  model?: unknown;
  service_tier?: unknown;
}

/** Usage from OpenAI's counts and their breakdowns, whichever API named them. */
export function usageFromOpenAICounts(
  input: number | undefined,
  inputDetails: OpenAIInputDetails | null | undefined,
  output: number | undefined,
  outputDetails: OpenAIOutputDetails | null | undefined,
): Usage {
  const cachedDetails = inputDetails?.cached_tokens_details;
  return usageFromInclusiveCounts({
    input,
    cacheRead: inputDetails?.cached_tokens,
    cacheWrite: inputDetails?.cache_write_tokens,
    output,
    inputMedia: { audio: inputDetails?.audio_tokens, image: inputDetails?.image_tokens },
    cacheReadMedia: { audio: cachedDetails?.audio_tokens, image: cachedDetails?.image_tokens },
    outputMedia: { audio: outputDetails?.audio_tokens, image: outputDetails?.image_tokens },
  });
}

/** UTF-8 bytes of the assistant output in a completion's choices, for an estimate when usage is missing. */
export function completionOutputBytes(choices: unknown): number {
  if (!Array.isArray(choices)) return 0;
  let bytes = 0;
  for (const choice of choices) bytes += bytesOfOutput((choice as { message?: unknown } | null)?.message);
  return bytes;
}

interface ChatChunk extends CompletionFields {
  choices?: Array<{ delta?: unknown }>;
}

/**
 * Meters a chat-completions stream. Some OpenAI-compatible servers repeat a cumulative usage
 * object on every chunk: the latest one replaces the previous, so nothing is counted twice. Every
 * chunk names the model and the service tier; the usage is priced at the latest tier named.
 */
export class ChatStreamMeter implements StreamMeter<ChatChunk> {
  readonly #hideUsageChunk: boolean;
  #usage: Usage | undefined;
  #model: unknown;
  #serviceTier: unknown;
  #outputBytes = 0;

  /** `hideUsageChunk`: we asked for the usage chunk, the caller did not, so they must not see it. */
  constructor(hideUsageChunk: boolean) {
    this.#hideUsageChunk = hideUsageChunk;
  }

  observe(chunk: ChatChunk): boolean {
    if (typeof chunk.model === "string") this.#model = chunk.model;
    if (typeof chunk.service_tier === "string") this.#serviceTier = chunk.service_tier;
    const usage = usageFromOpenAI(chunk.usage);
    if (usage) this.#usage = usage;
    const choices = chunk.choices ?? [];
    for (const choice of choices) this.#outputBytes += bytesOfOutput(choice?.delta);
    return !(this.#hideUsageChunk && usage !== undefined && choices.length === 0);
  }

  usage(): Usage | undefined {
    return this.#usage === undefined
      ? undefined
      : withServedTier(this.#usage, this.#model, this.#serviceTier);
  }

  outputBytes(): number {
    return this.#outputBytes;
  }
}

function bytesOfOutput(message: unknown): number {
  if (typeof message !== "object" || message === null) return 0;
  const {
    content,
    refusal,
    tool_calls: toolCalls,
    function_call: functionCall,
  } = message as Record<string, unknown>;
  let bytes = 0;
  if (typeof content === "string") bytes += Buffer.byteLength(content, "utf8");
  if (typeof refusal === "string") bytes += Buffer.byteLength(refusal, "utf8");
  if (toolCalls) bytes += Buffer.byteLength(JSON.stringify(toolCalls), "utf8");
  if (functionCall) bytes += Buffer.byteLength(JSON.stringify(functionCall), "utf8");
  return bytes;
}
