/**
 * Token usage in four disjoint tiers, so each can be priced at its own rate and no token is
 * counted twice: `inputTokens` excludes tokens read from or written to the prompt cache.
 */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /**
   * The part of `cacheWriteTokens` written with a 1-hour lifetime (Anthropic), which is priced
   * higher than the default 5-minute writes. Absent when there are none.
   */
  cacheWrite1hTokens?: number;
}

/** The spec's token counts gathered from a stream's chunks: a stream's usage is a full Usage on its receipt. */
export type StreamUsage = Pick<Usage, "inputTokens" | "outputTokens">;

/** Where the usage on a receipt came from: the provider's own report, or our estimate when none arrived. */
export type UsageSource = "provider" | "estimated";

export const ZERO_USAGE: Readonly<Usage> = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
});

/**
 * Usage for providers that count cached prompt tokens inside their input count (OpenAI, Gemini):
 * the cached part is split out so it is priced once, at the cache-read rate.
 */
export function usageWithCachedInside(
  inputIncludingCached: number | null | undefined,
  cached: number | null | undefined,
  output: number | null | undefined,
): Usage {
  const input = inputIncludingCached ?? 0;
  const cacheRead = Math.min(input, cached ?? 0);
  return makeUsage({ inputTokens: input - cacheRead, outputTokens: output, cacheReadTokens: cacheRead });
}

/** Builds a Usage from possibly missing counts; negatives and non-numbers become 0. */
export function makeUsage(parts: Partial<Record<keyof Usage, number | null | undefined>>): Usage {
  const usage: Usage = {
    inputTokens: countOrZero(parts.inputTokens),
    outputTokens: countOrZero(parts.outputTokens),
    cacheReadTokens: countOrZero(parts.cacheReadTokens),
    cacheWriteTokens: countOrZero(parts.cacheWriteTokens),
  };
  const longWrites = Math.min(countOrZero(parts.cacheWrite1hTokens), usage.cacheWriteTokens);
  if (longWrites > 0) usage.cacheWrite1hTokens = longWrites;
  return usage;
}

function countOrZero(value: number | null | undefined): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}
