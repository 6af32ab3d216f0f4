import { makeUsage, type Usage } from "../usage.ts";
import { anthropicTokenRatePercent } from "./anthropic-rate-premiums.ts";

// Anthropic's usage object, as its Messages API and every surface that passes it on (the AI SDK's
// message_start, LangChain's usage_metadata source) report it.

export interface TokenCounts {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_creation?: { ephemeral_1h_input_tokens?: number | null } | null;
}

export interface AnthropicUsage extends TokenCounts {
  /** Beta: one entry per sampling step of the request (server-side compaction, tool loops…). */
  iterations?: Array<TokenCounts & { type?: unknown }> | null;
  /** Calls of Anthropic's own tools: web searches are billed per search. */
  server_tool_use?: { web_search_requests?: number | null } | null;
  /** "fast" when fast mode served the call (billed at a multiple of the standard rates). */
  speed?: string | null;
  /** "us" when inference ran in the US only (billed at 1.1×). */
  inference_geo?: string | null;
}

/**
 * Anthropic's input_tokens already excludes cache reads and writes, so the four tiers map
 * directly; the 1-hour part of the cache writes is kept apart because it is billed higher.
 * A server-side compaction step (beta context management) is billed too, but its tokens are not
 * in the top-level fields, only in its `iterations` entry, so they are added. Web searches are
 * billed per search; fast mode and US-only inference scale every token's rate (by `model`: fast
 * mode's multiple depends on it, and is the highest when the model is not known).
 */
export function usageFromAnthropic(usage: unknown, model?: string): Usage | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  const reported = usage as AnthropicUsage;
  if (typeof reported.input_tokens !== "number" && typeof reported.output_tokens !== "number")
    return undefined;
  const counts = [reported, ...(reported.iterations ?? []).filter((entry) => entry?.type === "compaction")];
  const total = (count: (entry: TokenCounts) => number | null | undefined): number =>
    counts.reduce((sum, entry) => sum + (count(entry) ?? 0), 0);
  return makeUsage({
    inputTokens: total((entry) => entry.input_tokens),
    outputTokens: total((entry) => entry.output_tokens),
    cacheReadTokens: total((entry) => entry.cache_read_input_tokens),
    cacheWriteTokens: total((entry) => entry.cache_creation_input_tokens),
    cacheWrite1hTokens: total((entry) => entry.cache_creation?.ephemeral_1h_input_tokens),
    webSearchRequests: reported.server_tool_use?.web_search_requests,
    tokenRatePercent: anthropicTokenRatePercent(model, reported.speed, reported.inference_geo),
  });
}
