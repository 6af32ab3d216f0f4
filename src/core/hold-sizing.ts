import { Buffer } from "node:buffer";
import type { GovernedRequest } from "./governed-request.ts";
import type { HoldTerms } from "./hold.ts";
import { costUsertokens, type ModelRates, rateAt } from "./price-book.ts";
import { MODALITIES, MODALITY_FIELDS, type Modality, makeUsage, type Usage } from "./usage.ts";

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

/** What a hold prices besides the prompt and the output cap, all read from the request (and its rates). */
export interface HoldExtras {
  /** The prompt may be written to the cache: it is held as written, at the write rate, above the input rate. */
  promptCacheWrite?: "5m" | "1h";
  /** The output cap is held at this modality's output rate, the dearest the request allows. */
  outputModality?: Modality;
  /**
   * The prompt's media tokens, held at this modality's input rate when it is dearer than text's:
   * the readers cannot always tell audio from images, and a Gemini audio token costs 3.3× a text one.
   */
  mediaInput?: { tokens: number; modality: Modality };
  /** Web searches held at the model's per-search fee. */
  webSearchRequests?: number;
  /** File-search calls held at the model's per-call fee. */
  fileSearchRequests?: number;
  tokenRatePercent?: number;
}

/** The worst case a hold covers: the whole prompt as uncached input and every allowed output token. */
export function holdUsage(inputTokens: number, maxOutputTokens: number, extras: HoldExtras = {}): Usage {
  const { promptCacheWrite, outputModality } = extras;
  return makeUsage({
    ...(promptCacheWrite === undefined
      ? { inputTokens }
      : {
          cacheWriteTokens: inputTokens,
          cacheWrite1hTokens: promptCacheWrite === "1h" ? inputTokens : 0,
        }),
    outputTokens: maxOutputTokens,
    ...(outputModality === undefined ? {} : { [MODALITY_FIELDS[outputModality].output]: maxOutputTokens }),
    ...(extras.mediaInput === undefined
      ? {}
      : { [MODALITY_FIELDS[extras.mediaInput.modality].input]: extras.mediaInput.tokens }),
    webSearchRequests: extras.webSearchRequests,
    fileSearchRequests: extras.fileSearchRequests,
    tokenRatePercent: extras.tokenRatePercent,
  });
}

/**
 * The hold's extras for a request at these rates. Output may be audio, images or video only when
 * the request allows it (or, when it does not say, when the model has such an output price): the
 * cap is held at the dearest output rate among what may come, since any of it may be the whole cap.
 */
export function holdExtras(request: GovernedRequest, rates: ModelRates, inputTokens: number): HoldExtras {
  const extras: HoldExtras = {};
  if (request.promptCacheWrite !== undefined) extras.promptCacheWrite = request.promptCacheWrite;
  if (request.webSearchesMax !== undefined) extras.webSearchRequests = request.webSearchesMax;
  if (request.fileSearchesMax !== undefined) extras.fileSearchRequests = request.fileSearchesMax;
  if (request.tokenRatePercent !== undefined) extras.tokenRatePercent = request.tokenRatePercent;
  let dearest = rateAt(rates.output, inputTokens);
  for (const modality of request.outputModalities ?? MODALITIES) {
    const rate = rateAt(rates.media[modality].output, inputTokens);
    if (rate > dearest) {
      dearest = rate;
      extras.outputModality = modality;
    }
  }
  const mediaInput = dearestMediaInput(request.mediaTokens ?? 0, rates, inputTokens);
  if (mediaInput !== undefined) extras.mediaInput = mediaInput;
  return extras;
}

function dearestMediaInput(
  tokens: number,
  rates: ModelRates,
  inputTokens: number,
): HoldExtras["mediaInput"] | undefined {
  if (tokens === 0) return undefined;
  let dearest = rateAt(rates.input, inputTokens);
  let found: HoldExtras["mediaInput"] | undefined;
  for (const modality of MODALITIES) {
    const rate = rateAt(rates.media[modality].input, inputTokens);
    if (rate > dearest) {
      dearest = rate;
      found = { tokens, modality };
    }
  }
  return found;
}

/** Output tokens for UTF-8 bytes received, when the provider did not count them. */
export function estimateOutputTokens(outputBytes: number): number {
  return Math.ceil(outputBytes / BYTES_PER_TOKEN);
}

/**
 * Usage to settle at when the provider reported none: the prompt estimate and what was received,
 * at the rate the request asked for. Searches cannot be seen without usage and are not assumed.
 */
export function estimatedUsage(inputTokens: number, outputBytes: number, tokenRatePercent?: number): Usage {
  return makeUsage({ inputTokens, outputTokens: estimateOutputTokens(outputBytes), tokenRatePercent });
}

/**
 * A call's hold: the prompt estimate (every part, plus media) and every allowed output token of
 * every choice, with the request's extras (web searches, rate), priced at `rates`; `ids` are the
 * call's transfer id and prompt hash.
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
  const heldUsage = holdUsage(
    inputTokensEstimate,
    maxOutputTokens,
    holdExtras(request, rates, inputTokensEstimate),
  );
  return {
    ...ids,
    request,
    rates,
    inputTokensEstimate,
    maxOutputTokens,
    heldUsage,
    holdUsertokens: costUsertokens(rates, heldUsage),
    warnings: rates.warning === undefined ? [] : [rates.warning],
  };
}
