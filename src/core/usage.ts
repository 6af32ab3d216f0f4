/**
 * Token usage in four disjoint tiers, so each can be priced at its own rate and no token is
 * counted twice: `inputTokens` excludes tokens read from or written to the prompt cache.
 *
 * The optional fields say more about those tiers without changing them: which part of a tier is
 * audio, image or video (priced at that modality's rate where the price table has one), the
 * provider's per-request fees, and a rate the whole call was billed at. Each is absent when it
 * does not apply, so a plain text call's usage is the four tiers alone.
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
  /** The parts of `inputTokens` that are audio, images (Gemini: also documents) and video. */
  inputAudioTokens?: number;
  inputImageTokens?: number;
  inputVideoTokens?: number;
  /** The parts of `cacheReadTokens` that are audio, images and video. */
  cacheReadAudioTokens?: number;
  cacheReadImageTokens?: number;
  cacheReadVideoTokens?: number;
  /** The parts of `outputTokens` that are audio, images and video. */
  outputAudioTokens?: number;
  outputImageTokens?: number;
  outputVideoTokens?: number;
  /** Searches by the provider's own web search tool, each billed a fee on top of tokens. */
  webSearchRequests?: number;
  /** Calls of OpenAI's file search tool (vector stores), each billed a fee on top of tokens. */
  fileSearchRequests?: number;
  /**
   * Every token of the call was billed at this percentage of the model's standard rates
   * (Anthropic fast mode and US-only inference, OpenAI's priority and flex service tiers); absent
   * means 100. Per-request fees are not scaled.
   */
  tokenRatePercent?: number;
}

/** Kinds of tokens other than text that providers bill at rates of their own. */
export const MODALITIES = ["audio", "image", "video"] as const;
export type Modality = (typeof MODALITIES)[number];

type CountField = Exclude<keyof Usage, "tokenRatePercent">;

/** The Usage fields that hold one modality's part of the input, cache-read and output tiers. */
export const MODALITY_FIELDS: Readonly<
  Record<Modality, { input: CountField; cacheRead: CountField; output: CountField }>
> = {
  audio: { input: "inputAudioTokens", cacheRead: "cacheReadAudioTokens", output: "outputAudioTokens" },
  image: { input: "inputImageTokens", cacheRead: "cacheReadImageTokens", output: "outputImageTokens" },
  video: { input: "inputVideoTokens", cacheRead: "cacheReadVideoTokens", output: "outputVideoTokens" },
};

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

/** Counts of non-text tokens by modality, as a provider reports them. */
export type MediaCounts = Partial<Record<Modality, number | null | undefined>>;

/**
 * What providers that count cached tokens inside their input count report (OpenAI, Gemini): the
 * whole prompt, its cached and cache-written parts, the output, and the non-text parts of each.
 */
export interface InclusiveCounts {
  /** The whole prompt, cache reads and cache writes included. */
  input: number | null | undefined;
  cacheRead?: number | null | undefined;
  cacheWrite?: number | null | undefined;
  output: number | null | undefined;
  /** Non-text parts of the whole prompt, cached ones included. */
  inputMedia?: MediaCounts | undefined;
  /** Non-text parts of the cache reads; a modality left out is not broken down by the provider. */
  cacheReadMedia?: MediaCounts | undefined;
  outputMedia?: MediaCounts | undefined;
}

/**
 * Splits inclusive counts into the disjoint tiers: cache reads and writes come out of the input,
 * and each modality's part of the prompt is divided between uncached input and cache reads. When a
 * provider does not say how much of a modality was cached, only what the counts force is taken as
 * cached: a cached media token is priced lowest, so it must not be assumed.
 */
export function usageFromInclusiveCounts(counts: InclusiveCounts): Usage {
  const input = countOrZero(counts.input);
  const cacheRead = Math.min(input, countOrZero(counts.cacheRead));
  const cacheWrite = Math.min(input - cacheRead, countOrZero(counts.cacheWrite));
  const uncachedInput = input - cacheRead - cacheWrite;
  const parts: UsageParts = {
    inputTokens: uncachedInput,
    outputTokens: counts.output,
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
  };
  let uncachedLeft = uncachedInput;
  let cachedLeft = cacheRead;
  for (const modality of MODALITIES) {
    const whole = countOrZero(counts.inputMedia?.[modality]);
    const reportedCached = counts.cacheReadMedia?.[modality];
    const cached = Math.min(
      cachedLeft,
      whole,
      reportedCached === undefined || reportedCached === null
        ? Math.max(0, whole - uncachedLeft)
        : countOrZero(reportedCached),
    );
    const uncached = Math.min(uncachedLeft, whole - cached);
    cachedLeft -= cached;
    uncachedLeft -= uncached;
    const fields = MODALITY_FIELDS[modality];
    parts[fields.input] = uncached;
    parts[fields.cacheRead] = cached;
    parts[fields.output] = counts.outputMedia?.[modality];
  }
  return makeUsage(parts);
}

type UsageParts = Partial<Record<keyof Usage, number | null | undefined>>;

/**
 * Builds a Usage from possibly missing counts; negatives and non-numbers become 0. A tier's parts
 * (1-hour writes, each modality) never add up to more than the tier; optional fields are set only
 * when they say something.
 */
export function makeUsage(parts: UsageParts): Usage {
  const usage: Usage = {
    inputTokens: countOrZero(parts.inputTokens),
    outputTokens: countOrZero(parts.outputTokens),
    cacheReadTokens: countOrZero(parts.cacheReadTokens),
    cacheWriteTokens: countOrZero(parts.cacheWriteTokens),
  };
  const longWrites = Math.min(countOrZero(parts.cacheWrite1hTokens), usage.cacheWriteTokens);
  if (longWrites > 0) usage.cacheWrite1hTokens = longWrites;
  const left = { input: usage.inputTokens, cacheRead: usage.cacheReadTokens, output: usage.outputTokens };
  for (const modality of MODALITIES) {
    for (const tier of ["input", "cacheRead", "output"] as const) {
      const field = MODALITY_FIELDS[modality][tier];
      const count = Math.min(countOrZero(parts[field]), left[tier]);
      left[tier] -= count;
      if (count > 0) usage[field] = count;
    }
  }
  const searches = countOrZero(parts.webSearchRequests);
  if (searches > 0) usage.webSearchRequests = searches;
  const fileSearches = countOrZero(parts.fileSearchRequests);
  if (fileSearches > 0) usage.fileSearchRequests = fileSearches;
  const percent = ratePercent(parts.tokenRatePercent);
  if (percent !== 100) usage.tokenRatePercent = percent;
  return usage;
}

/** Combines rate percentages (fast mode × US-only), rounding up so a rate is never under-stated. */
export function combineRatePercents(...percents: number[]): number {
  let combined = 100;
  for (const percent of percents) combined = Math.ceil((combined * percent) / 100);
  return combined;
}

function ratePercent(value: number | null | undefined): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.ceil(value) : 100;
}

function countOrZero(value: number | null | undefined): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}
