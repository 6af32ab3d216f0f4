import type { LanguageModelV4Usage } from "@ai-sdk/provider";
import { anthropicTokenRatePercent } from "../../core/surface/anthropic-rate-premiums.ts";
import { withServedTier } from "../../core/surface/openai-service-tiers.ts";
import { makeUsage, type Usage } from "../../core/usage.ts";

/** What the call's result says besides its usage, and what its request asked for. */
export interface V4CallFacts {
  /** The result's (or the stream's `finish` part's) providerMetadata. */
  providerMetadata?: unknown;
  /** The rate the request asked to be billed at (GovernedRequest.tokenRatePercent). */
  requestedRatePercent?: number | undefined;
}

/**
 * A V4 usage report in our four disjoint tiers, built from its parts (not from totals: Anthropic's
 * `inputTokens.total` includes cache reads and writes). Output includes reasoning. Anthropic's
 * 1-hour cache writes come from the raw provider usage when it is there.
 *
 * An OpenAI call is priced at the service tier that served it: @ai-sdk/openai's Responses models
 * name it in `providerMetadata.openai.serviceTier`; its chat models do not, so their usage is priced
 * at the tier the request asked for (`facts.requestedRatePercent`), which is what a priority
 * request is billed unless OpenAI downgrades it.
 */
export function usageFromV4(
  usage: LanguageModelV4Usage | undefined,
  model?: string,
  facts: V4CallFacts = {},
): Usage | undefined {
  const tokens = tokensFromV4(usage, model);
  if (tokens === undefined) return undefined;
  const openai = (facts.providerMetadata as { openai?: { serviceTier?: unknown } } | undefined)?.openai;
  if (openai === undefined || openai === null) return tokens;
  if (typeof openai.serviceTier === "string") return withServedTier(tokens, model, openai.serviceTier);
  const requested = facts.requestedRatePercent;
  return requested === undefined || requested === 100
    ? tokens
    : makeUsage({ ...tokens, tokenRatePercent: requested });
}

function tokensFromV4(usage: LanguageModelV4Usage | undefined, model?: string): Usage | undefined {
  if (usage === undefined) return undefined;
  const { inputTokens, outputTokens } = usage;
  const reported = [
    inputTokens.total,
    inputTokens.noCache,
    inputTokens.cacheRead,
    inputTokens.cacheWrite,
    outputTokens.total,
    outputTokens.text,
    outputTokens.reasoning,
  ];
  if (reported.every((count) => count === undefined)) return undefined;
  const cacheRead = inputTokens.cacheRead ?? 0;
  const cacheWrite = inputTokens.cacheWrite ?? 0;
  const input = inputTokens.noCache ?? Math.max(0, (inputTokens.total ?? 0) - cacheRead - cacheWrite);
  const raw = usage.raw as AnthropicRawUsage | undefined;
  const longWrites = raw?.cache_creation?.ephemeral_1h_input_tokens;
  const searches = raw?.server_tool_use?.web_search_requests;
  return makeUsage({
    inputTokens: input,
    outputTokens: outputTokens.total ?? (outputTokens.text ?? 0) + (outputTokens.reasoning ?? 0),
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    cacheWrite1hTokens: typeof longWrites === "number" ? longWrites : undefined,
    // @ai-sdk/anthropic passes the API's usage as `raw`: searches and rate premiums are billed too.
    webSearchRequests: typeof searches === "number" ? searches : undefined,
    tokenRatePercent:
      raw === undefined ? undefined : anthropicTokenRatePercent(model, raw.speed, raw.inference_geo),
  });
}

/** The Anthropic API usage fields @ai-sdk/anthropic leaves in `raw` and the V4 counts do not carry. */
interface AnthropicRawUsage {
  cache_creation?: { ephemeral_1h_input_tokens?: unknown };
  server_tool_use?: { web_search_requests?: unknown };
  speed?: unknown;
  inference_geo?: unknown;
}
