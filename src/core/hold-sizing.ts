import { Buffer } from "node:buffer";
import type { GovernedRequest } from "./governed-request.ts";
import type { HoldTerms } from "./hold.ts";
import { costUsertokens, type ModelRates } from "./price-book.ts";
import { makeUsage, type Usage } from "./usage.ts";

/**
 * Token estimates for holds. A hold must not be smaller than the call will cost, and it must be
 * cheap to compute on every call, so we use UTF-8 bytes / 3 rather than running a tokenizer:
 * byte-level BPE vocabularies average about 4 bytes per token on English and about 3 on CJK
 * text, so this errs high. Real usage from the provider replaces the estimate at settle.
 */
const BYTES_PER_TOKEN = 3;

/** Chat formats wrap every message in a few role/separator tokens. */
const TOKENS_PER_PART = 4;

export function estimateTextTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, "utf8") / BYTES_PER_TOKEN);
}

export function estimateInputTokens(promptParts: readonly string[]): number {
  let tokens = 0;
  for (const part of promptParts) tokens += estimateTextTokens(part) + TOKENS_PER_PART;
  return tokens;
}

/** The worst case a hold covers: the whole prompt as uncached input and every allowed output token. */
export function holdUsage(
  inputTokens: number,
  maxOutputTokens: number,
  promptCacheWrite?: "5m" | "1h",
): Usage {
  if (promptCacheWrite === undefined) return makeUsage({ inputTokens, outputTokens: maxOutputTokens });
  // A prompt that may be written to the cache is held as written at the write rate, which is above the input rate.
  return makeUsage({
    outputTokens: maxOutputTokens,
    cacheWriteTokens: inputTokens,
    cacheWrite1hTokens: promptCacheWrite === "1h" ? inputTokens : 0,
  });
}

/** Output tokens for UTF-8 bytes received, when the provider did not count them. */
export function estimateOutputTokens(outputBytes: number): number {
  return Math.ceil(outputBytes / BYTES_PER_TOKEN);
}

/** Usage to settle at when the provider reported none: the prompt estimate and what was received. */
export function estimatedUsage(inputTokens: number, outputBytes: number): Usage {
  return makeUsage({ inputTokens, outputTokens: estimateOutputTokens(outputBytes) });
}

/**
 * A call's hold: the prompt estimate (every part, plus media) and every allowed output token of
 * every choice, priced at `rates`; `ids` are the call's transfer id and prompt hash.
 */
export function holdTerms(
  request: GovernedRequest,
  rates: ModelRates,
  defaultMaxOutputTokens: number,
  ids: { transferId: string; promptHash: string },
): HoldTerms {
  const inputTokensEstimate = estimateInputTokens(request.promptParts) + (request.mediaTokens ?? 0);
  // Every one of the call's choices may use the whole output cap.
  const maxOutputTokens = (request.maxOutputTokens ?? defaultMaxOutputTokens) * (request.outputChoices ?? 1);
  const holdUsertokens = costUsertokens(
    rates,
    holdUsage(inputTokensEstimate, maxOutputTokens, request.promptCacheWrite),
  );
  return {
    ...ids,
    request,
    rates,
    inputTokensEstimate,
    maxOutputTokens,
    holdUsertokens,
    warnings: rates.warning === undefined ? [] : [rates.warning],
  };
}
