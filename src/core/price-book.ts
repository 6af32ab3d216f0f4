import { calcPrice, type ModelPrice, type TieredPrices } from "@pydantic/genai-prices";
import type { ModelPriceOverride, TrustConfig } from "./config.ts";
import { UnknownModelError } from "./errors.ts";
import { MODALITIES, MODALITY_FIELDS, type Modality, type Usage } from "./usage.ts";

/**
 * Prices are kept as integer micro-USD per million tokens, so a call's cost is an exact integer
 * ratio and floats never reach the ledger. 1 UT = $0.0001, so
 *   UT = tokens × microUsdPerMTok / 10^6 (micro) / 10^6 (per million) × 10^4 (UT per USD)
 *      = tokens × microUsdPerMTok / 10^8, rounded up.
 */
const MICRO_USD_PER_MTOK_PER_UT_TOKEN = 100_000_000n;

/** A rate percentage and a per-request fee scale the token sum and the fees; both stay integers. */
const PERCENT = 100n;

/** A fee per 1,000 requests, in micro-USD, in the same units as tokens × micro-USD per million tokens. */
const TOKEN_UNITS_PER_FEE_UNIT = 1_000n;

/**
 * The web search fee when the price has none (config prices, a model the table lists without
 * one): $10 per 1,000 searches, what Anthropic and OpenAI both list, so a search is never free.
 */
export const FALLBACK_WEB_SEARCH_USD_PER_K = 10;
/** The file search fee when the price has none: $2.50 per 1,000 calls, OpenAI's list price. */
export const FALLBACK_FILE_SEARCH_USD_PER_K = 2.5;

/** Rates used when `unknownModel` is "warn": frontier-model list prices, so an unknown model is never cheap. */
export const FALLBACK_RATE: ModelPriceOverride = { inputPerMTok: 15, outputPerMTok: 75 };

export interface RateSchedule {
  baseMicroUsdPerMTok: number;
  /** Sorted by start; a tier applies to every token once the call's total input exceeds `startTokens`. */
  tiers: ReadonlyArray<{ startTokens: number; microUsdPerMTok: number }>;
}

export interface MediaRates {
  input: RateSchedule;
  cacheRead: RateSchedule;
  output: RateSchedule;
}

export type PriceSource = "config" | "genai-prices" | "unknown-model-rate" | "unknown-model-fallback";

export interface ModelRates {
  provider: string;
  /** The id the price came from (a price table may match a dated variant to its family). */
  pricedAs: string;
  source: PriceSource;
  input: RateSchedule;
  output: RateSchedule;
  cacheRead: RateSchedule;
  cacheWrite: RateSchedule;
  /** 1-hour cache writes (Anthropic): the table's rate, else twice the input rate as Anthropic bills them. */
  cacheWrite1h: RateSchedule;
  /** Audio, image and video tokens: the table's rates for the modality, else the text rates of the tier. */
  media: Readonly<Record<Modality, MediaRates>>;
  /** One web search by the provider's own search tool, in micro-USD per 1,000 searches. */
  webSearchMicroUsdPerK: number;
  /** One call of OpenAI's file search tool, in micro-USD per 1,000 calls. */
  fileSearchMicroUsdPerK: number;
  /** Set when the price is a guess the user should know about. */
  warning: string | undefined;
}

export class PriceBook {
  readonly #overrides: Readonly<Record<string, ModelPriceOverride>>;
  readonly #unknownModel: TrustConfig["unknownModel"];
  readonly #cache = new Map<string, ModelRates | null>();

  constructor(config: Pick<TrustConfig, "pricing" | "unknownModel">) {
    this.#overrides = config.pricing;
    this.#unknownModel = config.unknownModel;
  }

  /** Rates for a model; throws UnknownModelError when no price is known and unknown models are denied. */
  ratesFor(provider: string, model: string): ModelRates {
    const key = `${provider}\u0000${model}`;
    let rates = this.#cache.get(key);
    if (rates === undefined) {
      rates = this.#lookup(provider, model);
      this.#cache.set(key, rates);
    }
    if (rates !== null) return rates;
    return this.#unknown(provider, model);
  }

  #lookup(provider: string, model: string): ModelRates | null {
    const override = this.#overrides[model];
    if (override) return ratesFromOverride(provider, model, override, "config", undefined);
    const found = calcPrice({ input_tokens: 1, output_tokens: 1 }, model, { providerId: provider });
    if (found === null) return null;
    return ratesFromTable(provider, found.model.id, found.model_price);
  }

  #unknown(provider: string, model: string): ModelRates {
    const policy = this.#unknownModel;
    if (policy === "deny") throw new UnknownModelError(provider, model);
    if (policy === "warn") {
      const warning = `no price known for ${provider} model "${model}"; charged at the fallback rate of $${FALLBACK_RATE.inputPerMTok}/$${FALLBACK_RATE.outputPerMTok} per million input/output tokens`;
      return ratesFromOverride(provider, model, FALLBACK_RATE, "unknown-model-fallback", warning);
    }
    const warning = `no price known for ${provider} model "${model}"; charged at the configured unknownModel rate`;
    return ratesFromOverride(provider, model, policy.rate, "unknown-model-rate", warning);
  }
}

/**
 * Cost of a usage at these rates, in usertokens, rounded up so a call that costs anything costs
 * ≥ 1 UT. Tokens are summed at their tiers' rates and scaled by the call's rate percentage; fees
 * are added unscaled; the total is rounded once.
 */
export function costUsertokens(rates: ModelRates, usage: Usage): number {
  const tokens = tokenCost(rates, usage);
  const fees =
    (BigInt(usage.webSearchRequests ?? 0) * BigInt(rates.webSearchMicroUsdPerK) +
      BigInt(usage.fileSearchRequests ?? 0) * BigInt(rates.fileSearchMicroUsdPerK)) *
    TOKEN_UNITS_PER_FEE_UNIT;
  const numerator = tokens * BigInt(usage.tokenRatePercent ?? 100) + fees * PERCENT;
  const denominator = MICRO_USD_PER_MTOK_PER_UT_TOKEN * PERCENT;
  return Number((numerator + denominator - 1n) / denominator);
}

/** Σ tokens × micro-USD per million tokens: each modality's part of a tier at its rate, the rest as text. */
function tokenCost(rates: ModelRates, usage: Usage): bigint {
  const totalInput = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  // Most tiers of most calls are empty: no BigInt work for them (this runs twice per call).
  const at = (tokens: number, schedule: RateSchedule): bigint =>
    tokens === 0 ? 0n : BigInt(tokens) * BigInt(rateAt(schedule, totalInput));
  const text = { input: usage.inputTokens, cacheRead: usage.cacheReadTokens, output: usage.outputTokens };
  let sum = 0n;
  for (const modality of MODALITIES) {
    for (const tier of ["input", "cacheRead", "output"] as const) {
      // A tier's parts never count for more than the tier, whoever built the usage.
      const part = Math.min(usage[MODALITY_FIELDS[modality][tier]] ?? 0, text[tier]);
      if (part === 0) continue;
      text[tier] -= part;
      sum += at(part, rates.media[modality][tier]);
    }
  }
  const longWrites = Math.min(usage.cacheWrite1hTokens ?? 0, usage.cacheWriteTokens);
  return (
    sum +
    at(text.input, rates.input) +
    at(text.output, rates.output) +
    at(text.cacheRead, rates.cacheRead) +
    at(usage.cacheWriteTokens - longWrites, rates.cacheWrite) +
    at(longWrites, rates.cacheWrite1h)
  );
}

/** The rate of a schedule for a call with this many input tokens in all. */
export function rateAt(schedule: RateSchedule, totalInputTokens: number): number {
  let rate = schedule.baseMicroUsdPerMTok;
  for (const tier of schedule.tiers) if (totalInputTokens > tier.startTokens) rate = tier.microUsdPerMTok;
  return rate;
}

/**
 * A cache-write rate a price does not give, from its input rate: Anthropic bills 5-minute writes at
 * 1.25× input (other providers bill what they cache as plain input), and 1-hour writes at 2×.
 */
function cacheWriteFactor(provider: string): number {
  return provider === "anthropic" ? 1.25 : 1;
}
const CACHE_WRITE_1H_FACTOR = 2;

function scaled(rates: RateSchedule, factor: number): RateSchedule {
  return {
    baseMicroUsdPerMTok: Math.ceil(factor * rates.baseMicroUsdPerMTok),
    tiers: rates.tiers.map((tier) => ({
      ...tier,
      microUsdPerMTok: Math.ceil(factor * tier.microUsdPerMTok),
    })),
  };
}

function flat(usdPerMTok: number): RateSchedule {
  return { baseMicroUsdPerMTok: toMicro(usdPerMTok), tiers: [] };
}

function toMicro(usdPerMTok: number): number {
  // Round up (never under-price), after absorbing float noise such as 0.15 × 10^6 = 149999.99999999997.
  const micro = usdPerMTok * 1_000_000;
  const nearest = Math.round(micro);
  return Math.abs(micro - nearest) < 1e-6 ? nearest : Math.ceil(micro);
}

function ratesFromOverride(
  provider: string,
  model: string,
  price: ModelPriceOverride,
  source: PriceSource,
  warning: string | undefined,
): ModelRates {
  const text: MediaRates = {
    input: flat(price.inputPerMTok),
    cacheRead: flat(price.cacheReadPerMTok ?? price.inputPerMTok),
    output: flat(price.outputPerMTok),
  };
  return {
    provider,
    pricedAs: model,
    source,
    ...text,
    cacheWrite:
      price.cacheWritePerMTok === undefined
        ? scaled(flat(price.inputPerMTok), cacheWriteFactor(provider))
        : flat(price.cacheWritePerMTok),
    cacheWrite1h:
      price.cacheWrite1hPerMTok === undefined
        ? scaled(flat(price.inputPerMTok), CACHE_WRITE_1H_FACTOR)
        : flat(price.cacheWrite1hPerMTok),
    // A configured price is one rate per tier: every modality is charged at it.
    media: { audio: text, image: text, video: text },
    webSearchMicroUsdPerK: toMicro(FALLBACK_WEB_SEARCH_USD_PER_K),
    fileSearchMicroUsdPerK: toMicro(FALLBACK_FILE_SEARCH_USD_PER_K),
    warning,
  };
}

function ratesFromTable(provider: string, pricedAs: string, price: ModelPrice): ModelRates {
  const input = schedule(price.input_mtok) ?? flat(0);
  const text: MediaRates = {
    input,
    // A model without a cache-read price bills cached tokens as plain input; never as free.
    cacheRead: schedule(price.cache_read_mtok) ?? input,
    output: schedule(price.output_mtok) ?? flat(0),
  };
  const webSearches = price.web_searches_kcount;
  const fileSearches = price.storage_searches_kcount;
  return {
    provider,
    pricedAs,
    source: "genai-prices",
    ...text,
    cacheWrite: schedule(price.cache_write_mtok) ?? scaled(input, cacheWriteFactor(provider)),
    cacheWrite1h: schedule(price.cache_write_1h_mtok) ?? scaled(input, CACHE_WRITE_1H_FACTOR),
    media: {
      audio: mediaRatesFromTable(price, "audio", text),
      image: mediaRatesFromTable(price, "image", text),
      video: mediaRatesFromTable(price, "video", text),
    },
    webSearchMicroUsdPerK: toMicro(
      typeof webSearches === "number" ? webSearches : FALLBACK_WEB_SEARCH_USD_PER_K,
    ),
    fileSearchMicroUsdPerK: toMicro(
      typeof fileSearches === "number" ? fileSearches : FALLBACK_FILE_SEARCH_USD_PER_K,
    ),
    warning: undefined,
  };
}

/**
 * A modality's rates as the table's own pricing reads them: its price where it has one, else the
 * tier's text rate. Cached media without a price of its own falls back to the modality's input
 * rate when the table has one (the table's rule), never to the cheaper text cache-read rate.
 */
function mediaRatesFromTable(price: ModelPrice, modality: Modality, text: MediaRates): MediaRates {
  const input = schedule(price[`input_${modality}_mtok`]);
  return {
    input: input ?? text.input,
    cacheRead: schedule(price[`cache_${modality}_read_mtok`]) ?? input ?? text.cacheRead,
    output: schedule(price[`output_${modality}_mtok`]) ?? text.output,
  };
}

function schedule(value: number | TieredPrices | undefined): RateSchedule | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") return flat(value);
  const tiers = [...value.tiers]
    .sort((a, b) => a.start - b.start)
    .map((tier) => ({ startTokens: tier.start, microUsdPerMTok: toMicro(tier.price) }));
  return { baseMicroUsdPerMTok: toMicro(value.base), tiers };
}
