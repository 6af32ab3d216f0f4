import type { LanguageModelV4Usage } from "@ai-sdk/provider";
import { anthropicTokenRatePercent } from "../../core/surface/anthropic-rate-premiums.ts";
import { openAIServedTierPercent } from "../../core/surface/openai-service-tiers.ts";
import { makeUsage, type Usage } from "../../core/usage.ts";

/** What the call's result says besides its usage, and what its request asked for and sent. */
export interface V4CallFacts {
  /** The result's (or the stream's `finish` part's) providerMetadata. */
  providerMetadata?: unknown;
  /** The body the provider sent (`request.body` of doGenerate's and doStream's result). */
  requestBody?: unknown;
  /** The provider's response body (`response.body` of doGenerate's result; a stream has none). */
  responseBody?: unknown;
  /** The rate the hold was sized at (GovernedRequest.tokenRatePercent). */
  requestedRatePercent?: number | undefined;
}

/**
 * A V4 usage report in our four disjoint tiers, built from its parts (not from totals: Anthropic's
 * `inputTokens.total` includes cache reads and writes). Output includes reasoning. Anthropic's
 * 1-hour cache writes come from the raw provider usage when it is there.
 *
 * An OpenAI call (its providerMetadata has an `openai` entry) is priced at the rate
 * callRatePercent gives it.
 */
export function usageFromV4(
  usage: LanguageModelV4Usage | undefined,
  model?: string,
  facts: V4CallFacts = {},
): Usage | undefined {
  const tokens = tokensFromV4(usage, model);
  if (tokens === undefined) return undefined;
  const openai = (facts.providerMetadata as { openai?: unknown } | undefined)?.openai;
  if (openai === undefined || openai === null) return tokens;
  const percent = callRatePercent("openai", model, facts) ?? 100;
  return percent === 100 ? tokens : makeUsage({ ...tokens, tokenRatePercent: percent });
}

/**
 * The percentage of its standard rates a call is billed at, for a usage that does not carry it
 * (OpenAI's) and for what a call consumed when the provider reported no usage.
 *
 * An OpenAI call is priced at the service tier that served it, when the result names it:
 * @ai-sdk/openai's Responses models in `providerMetadata.openai.serviceTier`, its chat models in
 * the response body's `service_tier` (a chat stream has no body). Otherwise at the served rate of
 * the tier the request sent: flex at half, priority at its premium, and no premium for a tier the
 * SDK removed from the request (priority asked of a model without priority processing, which it
 * warns of and OpenAI bills at standard). Without a request body, at the rate of the hold.
 * Any other provider's request is sent with the rate options it asked for: the hold's rate.
 */
export function callRatePercent(
  provider: string,
  model: string | undefined,
  facts: V4CallFacts,
): number | undefined {
  if (provider !== "openai") return facts.requestedRatePercent;
  const metadata = (facts.providerMetadata as { openai?: { serviceTier?: unknown } } | undefined)?.openai;
  const served = metadata?.serviceTier ?? serviceTierOf(facts.responseBody);
  if (typeof served === "string" && served !== "") return openAIServedTierPercent(model, served);
  if (typeof facts.requestBody === "object" && facts.requestBody !== null) {
    return openAIServedTierPercent(model, serviceTierOf(facts.requestBody));
  }
  return facts.requestedRatePercent;
}

function serviceTierOf(body: unknown): unknown {
  return typeof body === "object" && body !== null
    ? (body as { service_tier?: unknown }).service_tier
    : undefined;
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
