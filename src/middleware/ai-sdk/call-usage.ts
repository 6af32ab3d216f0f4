import type { LanguageModelV4Usage } from "@ai-sdk/provider";
import { makeUsage, type Usage } from "../../core/usage.ts";

/**
 * A V4 usage report in our four disjoint tiers, built from its parts (not from totals: Anthropic's
 * `inputTokens.total` includes cache reads and writes). Output includes reasoning. Anthropic's
 * 1-hour cache writes come from the raw provider usage when it is there.
 */
export function usageFromV4(usage: LanguageModelV4Usage | undefined): Usage | undefined {
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
  const raw = usage.raw as { cache_creation?: { ephemeral_1h_input_tokens?: unknown } } | undefined;
  const longWrites = raw?.cache_creation?.ephemeral_1h_input_tokens;
  return makeUsage({
    inputTokens: input,
    outputTokens: outputTokens.total ?? (outputTokens.text ?? 0) + (outputTokens.reasoning ?? 0),
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    cacheWrite1hTokens: typeof longWrites === "number" ? longWrites : undefined,
  });
}
