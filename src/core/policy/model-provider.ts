import { calcPrice, findProvider } from "@pydantic/genai-prices";

/** The providers a trust() client can be, in the order a model id is tried against their prices. */
const CLIENT_PROVIDERS = ["openai", "anthropic", "google"] as const;

/**
 * The provider a model id belongs to in the price table ("gpt-4o" → "openai", "claude-…" →
 * "anthropic", "gemini-…" → "google"), or undefined when the table does not know the model. The
 * table's provider patterns miss some models it prices (text-embedding-3-small, chatgpt-4o-latest),
 * so those are looked up among the providers a trust() client can have, as the engine prices them.
 * A real call takes its provider from the client it goes through; this is the best guess for a
 * call that names only a model, as `usertrust policy test` does.
 */
export function providerOfModel(model: string): string | undefined {
  const matched = findProvider({ modelId: model })?.id;
  if (matched !== undefined) return matched;
  return CLIENT_PROVIDERS.find(
    (provider) => calcPrice({ input_tokens: 1, output_tokens: 1 }, model, { providerId: provider }) !== null,
  );
}
