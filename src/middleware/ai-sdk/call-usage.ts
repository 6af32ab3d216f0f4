import type { LanguageModelV4Usage } from "@ai-sdk/provider";
import { anthropicTokenRatePercent } from "../../core/surface/anthropic-rate-premiums.ts";
import { makeUsage, type Usage } from "../../core/usage.ts";

/**
 * A V4 usage report in our four disjoint tiers, built from its parts (not from totals: Anthropic's
 * `inputTokens.total` includes cache reads and writes). Output includes reasoning. Anthropic's
 * 1-hour cache writes come from the raw provider usage when it is there.
 */
export function usageFromV4(usage: LanguageModelV4Usage | undefined, model?: string): Usage | undefined {
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
