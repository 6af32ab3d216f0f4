import { calcPrice, type ModelPrice, type TieredPrices } from "@pydantic/genai-prices";
import type { ModelPriceOverride, TrustConfig } from "./config.ts";
import { UnknownModelError } from "./errors.ts";
import type { Usage } from "./usage.ts";

/**
 * Prices are kept as integer micro-USD per million tokens, so a call's cost is an exact integer
 * ratio and floats never reach the ledger. 1 UT = $0.0001, so
 *   UT = tokens × microUsdPerMTok / 10^6 (micro) / 10^6 (per million) × 10^4 (UT per USD)
 *      = tokens × microUsdPerMTok / 10^8, rounded up.
 */
const MICRO_USD_PER_MTOK_PER_UT_TOKEN = 100_000_000n;

/** Rates used when `unknownModel` is "warn": frontier-model list prices, so an unknown model is never cheap. */
export const FALLBACK_RATE: ModelPriceOverride = { inputPerMTok: 15, outputPerMTok: 75 };

export interface RateSchedule {
  baseMicroUsdPerMTok: number;
  /** Sorted by start; a tier applies to every token once the call's total input exceeds `startTokens`. */
  tiers: ReadonlyArray<{ startTokens: number; microUsdPerMTok: number }>;
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

/** Cost of a usage at these rates, in usertokens, rounded up so a call that costs anything costs ≥ 1 UT. */
export function costUsertokens(rates: ModelRates, usage: Usage): number {
  const totalInput = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  const longWrites = Math.min(usage.cacheWrite1hTokens ?? 0, usage.cacheWriteTokens);
  const numerator =
    BigInt(usage.inputTokens) * BigInt(rateAt(rates.input, totalInput)) +
    BigInt(usage.outputTokens) * BigInt(rateAt(rates.output, totalInput)) +
    BigInt(usage.cacheReadTokens) * BigInt(rateAt(rates.cacheRead, totalInput)) +
    BigInt(usage.cacheWriteTokens - longWrites) * BigInt(rateAt(rates.cacheWrite, totalInput)) +
    BigInt(longWrites) * BigInt(rateAt(rates.cacheWrite1h, totalInput));
  const usertokens = (numerator + MICRO_USD_PER_MTOK_PER_UT_TOKEN - 1n) / MICRO_USD_PER_MTOK_PER_UT_TOKEN;
  return Number(usertokens);
}

function rateAt(schedule: RateSchedule, totalInputTokens: number): number {
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
  return {
    provider,
    pricedAs: model,
    source,
    input: flat(price.inputPerMTok),
    output: flat(price.outputPerMTok),
    cacheRead: flat(price.cacheReadPerMTok ?? price.inputPerMTok),
    cacheWrite:
      price.cacheWritePerMTok === undefined
        ? scaled(flat(price.inputPerMTok), cacheWriteFactor(provider))
        : flat(price.cacheWritePerMTok),
    cacheWrite1h:
      price.cacheWrite1hPerMTok === undefined
        ? scaled(flat(price.inputPerMTok), CACHE_WRITE_1H_FACTOR)
        : flat(price.cacheWrite1hPerMTok),
    warning,
  };
}

function ratesFromTable(provider: string, pricedAs: string, price: ModelPrice): ModelRates {
  const input = schedule(price.input_mtok) ?? flat(0);
  return {
    provider,
    pricedAs,
    source: "genai-prices",
    input,
    output: schedule(price.output_mtok) ?? flat(0),
    // A model without a cache-read price bills cached tokens as plain input; never as free.
    cacheRead: schedule(price.cache_read_mtok) ?? input,
    cacheWrite: schedule(price.cache_write_mtok) ?? scaled(input, cacheWriteFactor(provider)),
    cacheWrite1h: schedule(price.cache_write_1h_mtok) ?? scaled(input, CACHE_WRITE_1H_FACTOR),
    warning: undefined,
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
