import { makeUsage, type Usage } from "../usage.ts";

/**
 * OpenAI bills a call at the rates of the service tier that served it, which the response's
 * `service_tier` names (Chat Completions and Responses, JSON and streams). The bundled price table
 * has standard rates only, so a tier is a percentage of them on every token (cache reads
 * included), carried as the usage's `tokenRatePercent` as Anthropic's fast mode is.
 *
 * Priority processing (`"priority"`, which @ai-sdk/openai also accepts as `"fast"`), from OpenAI's
 * published priority prices (https://openai.com/api-priority-processing/, the "Priority" tab of
 * https://developers.openai.com/api/docs/pricing) divided by the standard prices of the same
 * models in the bundled table; input, cached input and output scale alike for each model, and a
 * fraction is rounded up so a tier is never under-charged. The priority table excludes
 * long-context requests (over 128k prompt tokens); what such a call is charged follows the tier
 * its response names, like any other.
 */
const PRIORITY_PERCENT: ReadonlyMap<string, number> = new Map([
  ["gpt-5.5", 250], // $12.50 / $1.25 / $75 against $5 / $0.50 / $30
  ["gpt-5.4", 200], // $5 / $0.50 / $30
  ["gpt-5.4-mini", 200], // $1.50 / $0.15 / $9
  ["gpt-5.2", 200], // $3.50 / $0.35 / $28
  ["gpt-5.1", 200], // $2.50 / $0.25 / $20
  ["gpt-5.1-codex", 200],
  ["gpt-5", 200], // $2.50 / $0.25 / $20
  ["gpt-5-codex", 200],
  ["gpt-5-mini", 180], // $0.45 / $0.045 / $3.60 against $0.25 / $0.025 / $2
  ["gpt-4.1", 175], // $3.50 / $0.875 / $14 against $2 / $0.50 / $8
  ["gpt-4.1-mini", 175], // $0.70 / $0.175 / $2.80
  ["gpt-4.1-nano", 200], // $0.20 / $0.05 / $0.80
  ["gpt-4o", 170], // $4.25 / $2.125 / $17 against $2.50 / $1.25 / $10
  ["gpt-4o-2024-05-13", 175], // $8.75 / $26.25 against $5 / $15
  ["gpt-4o-mini", 167], // $0.25 / $0.125 / $1 against $0.15 / $0.075 / $0.60 (1.67×)
  ["o3", 175], // $3.50 / $0.875 / $14 against $2 / $0.50 / $8
  ["o4-mini", 182], // $2 / $0.50 / $8 against $1.10 / $0.275 / $4.40 (1.82×)
]);

/**
 * A premium tier whose price for this model is not known (a model OpenAI's priority table does not
 * list, an Azure deployment name, a tier such as `"ultrafast"` that has no published price) is
 * charged the highest priority multiple listed, never the standard rate: an assumption that errs
 * high, since a price we do not know may be above it.
 */
export const OPENAI_PREMIUM_TIER_UNLISTED_PERCENT = 250;

/**
 * Flex processing is billed at Batch API rates, half of standard, cache reads included
 * (https://developers.openai.com/api/docs/guides/flex-processing; the pricing page's "Flex" tab).
 */
const FLEX_PERCENT = 50;

/** Tiers billed at the standard rates: `"scale"` draws on prepaid Scale Tier units, charged here at list. */
const STANDARD_TIERS: ReadonlySet<string> = new Set(["default", "auto", "scale", "standard"]);

/**
 * The percentage of its standard rates a request may be billed at, for its hold: a premium tier it
 * asks for. Flex is held at the standard rate (the response may not confirm the discount), and
 * `"auto"`, `"default"` or no tier at 100, though a project whose default tier is priority bills
 * those at priority: that setting is not visible in the request.
 */
export function openAIRequestedTierPercent(model: string | undefined, serviceTier: unknown): number {
  if (typeof serviceTier !== "string" || serviceTier === "flex" || STANDARD_TIERS.has(serviceTier))
    return 100;
  return premiumPercent(model, serviceTier);
}

/**
 * The percentage of its standard rates a call was billed at, from the tier the response says
 * served it; 100 when it names none. An unknown tier name is charged as an unlisted premium tier.
 */
export function openAIServedTierPercent(model: string | undefined, serviceTier: unknown): number {
  if (typeof serviceTier !== "string" || serviceTier === "" || STANDARD_TIERS.has(serviceTier)) return 100;
  if (serviceTier === "flex") return FLEX_PERCENT;
  return premiumPercent(model, serviceTier);
}

/** A usage priced at the rate of the tier that served the call (`service_tier` of the response). */
export function withServedTier(usage: Usage, model: unknown, serviceTier: unknown): Usage {
  const percent = openAIServedTierPercent(typeof model === "string" ? model : undefined, serviceTier);
  return percent === 100 ? usage : makeUsage({ ...usage, tokenRatePercent: percent });
}

function premiumPercent(model: string | undefined, serviceTier: string): number {
  if (serviceTier !== "priority" && serviceTier !== "fast") return OPENAI_PREMIUM_TIER_UNLISTED_PERCENT;
  return (model === undefined ? undefined : priorityPercentOf(model)) ?? OPENAI_PREMIUM_TIER_UNLISTED_PERCENT;
}

/** A model id as it is listed, or with a snapshot date ("gpt-4.1-2025-04-14"), or a provider prefix ("openai/…"). */
function priorityPercentOf(model: string): number | undefined {
  const id = model.slice(model.lastIndexOf("/") + 1);
  return PRIORITY_PERCENT.get(id) ?? PRIORITY_PERCENT.get(id.replace(SNAPSHOT_DATE, ""));
}

const SNAPSHOT_DATE = /-\d{4}-\d{2}-\d{2}$/;
