import { findProvider } from "@pydantic/genai-prices";

/**
 * The provider a model id belongs to in the price table ("gpt-4o" → "openai", "claude-…" →
 * "anthropic", "gemini-…" → "google"), or undefined when the table does not know the model. A real
 * call takes its provider from the client it goes through; this is the best guess for a call that
 * names only a model, as `usertrust policy test` does.
 */
export function providerOfModel(model: string): string | undefined {
  return findProvider({ modelId: model })?.id;
}
