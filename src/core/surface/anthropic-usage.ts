import { makeUsage, type Usage } from "../usage.ts";

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
}

/**
 * Anthropic's input_tokens already excludes cache reads and writes, so the four tiers map
 * directly; the 1-hour part of the cache writes is kept apart because it is billed higher.
 * A server-side compaction step (beta context management) is billed too, but its tokens are not
 * in the top-level fields, only in its `iterations` entry, so they are added.
 */
export function usageFromAnthropic(usage: unknown): Usage | undefined {
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
  });
}
