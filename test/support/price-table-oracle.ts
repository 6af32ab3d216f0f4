import { calcPrice, extractUsage, findProvider } from "@pydantic/genai-prices";

/**
 * The bundled price table's own answer for a provider response: genai-prices' extractor for that
 * provider and API flavour reads the usage (every field it knows), calcPrice prices it. Returned
 * in usertokens (1 UT = $0.0001), rounded up as usertrust rounds.
 */
export function tableUsertokens(
  providerId: string,
  model: string,
  apiFlavor: string,
  response: unknown,
): number {
  const provider = findProvider({ providerId });
  if (provider === undefined) throw new Error(`no provider ${providerId}`);
  const { usage } = extractUsage(provider, response, apiFlavor);
  const price = calcPrice(usage, model, { providerId });
  if (price === null) throw new Error(`no price for ${providerId} ${model}`);
  return Math.ceil(price.total_price * 10_000 - 1e-9);
}

/** The table's price for an explicit usage record, in usertokens rounded up. */
export function tablePriceUsertokens(
  providerId: string,
  model: string,
  usage: Record<string, number>,
): number {
  const price = calcPrice(usage, model, { providerId });
  if (price === null) throw new Error(`no price for ${providerId} ${model}`);
  return Math.ceil(price.total_price * 10_000 - 1e-9);
}
