import type { BaseMessage } from "@langchain/core/messages";
import {
  ANTHROPIC_IMAGE_TOKENS,
  GEMINI_IMAGE_TOKENS,
  openAIImageTokens,
} from "../../adapters/media-tokens.ts";
import type { GovernedRequest } from "../../core/governed-request.ts";
import { makeUsage, type Usage } from "../../core/usage.ts";

/** What usertrust reads of a LangChain chat model: its provider, model name and output cap. */
export interface ModelIdentity {
  provider: string;
  model: string;
  maxOutputTokens: number | undefined;
}

/** "openai", "anthropic", "google-genai" … from the model's _llmType() and its fields. */
export function identify(model: unknown): ModelIdentity {
  const fields = model as {
    _llmType?: () => string;
    model?: unknown;
    modelName?: unknown;
    maxTokens?: unknown;
    maxOutputTokens?: unknown;
    _defaultConfig?: { model?: unknown; modelProvider?: unknown };
  };
  let type = typeof fields._llmType === "function" ? fields._llmType() : "unknown";
  let name = firstString(fields.model, fields.modelName) ?? type;
  // initChatModel and createAgent({ model: "openai:gpt-4o-mini" }) give a ConfigurableModel that
  // keeps the real model in its default config, optionally as "provider:model".
  const configured = fields._defaultConfig;
  if (type === "chat_model" && typeof configured?.model === "string") {
    const colon = configured.model.indexOf(":");
    name = colon >= 0 ? configured.model.slice(colon + 1) : configured.model;
    type = firstString(configured.modelProvider) ?? (colon >= 0 ? configured.model.slice(0, colon) : type);
  }
  const provider = type.startsWith("google") || type.startsWith("vertex") ? "google" : type;
  const cap = typeof fields.maxTokens === "number" ? fields.maxTokens : fields.maxOutputTokens;
  return { provider, model: name, maxOutputTokens: typeof cap === "number" && cap > 0 ? cap : undefined };
}

function firstString(...values: unknown[]): string | undefined {
  return values.find((value): value is string => typeof value === "string" && value !== "");
}

/** Chat messages (and the tools bound to the call) as the engine's neutral request. */
export function messagesToGoverned(
  messages: readonly BaseMessage[],
  identity: ModelIdentity,
  tools?: unknown,
): GovernedRequest {
  const parts: string[] = [];
  let mediaTokens = 0;
  for (const message of messages) {
    const { content } = message;
    if (typeof content === "string") parts.push(content);
    else {
      for (const block of content as unknown as Array<Record<string, unknown>>) {
        if (typeof block.text === "string") parts.push(block.text);
        else if (block.type === "image_url" || block.type === "image")
          mediaTokens += imageTokens(identity.provider);
        else parts.push(JSON.stringify(block));
      }
    }
    const toolCalls = (message as { tool_calls?: unknown }).tool_calls;
    if (Array.isArray(toolCalls) && toolCalls.length > 0) parts.push(JSON.stringify(toolCalls));
  }
  if (tools !== undefined && !(Array.isArray(tools) && tools.length === 0)) parts.push(JSON.stringify(tools));
  const request: GovernedRequest = {
    provider: identity.provider,
    model: identity.model,
    promptParts: parts,
    maxOutputTokens: identity.maxOutputTokens,
    messageCount: messages.length,
  };
  if (mediaTokens > 0) request.mediaTokens = mediaTokens;
  return request;
}

function imageTokens(provider: string): number {
  if (provider === "anthropic") return ANTHROPIC_IMAGE_TOKENS;
  if (provider === "google") return GEMINI_IMAGE_TOKENS;
  return openAIImageTokens(undefined);
}

interface UsageMetadata {
  input_tokens?: number;
  output_tokens?: number;
  input_token_details?: { cache_read?: number; cache_creation?: number };
}

/**
 * LangChain's `usage_metadata`: `input_tokens` is the sum of every input type, so cache reads and
 * cache writes are split out of it; `output_tokens` includes reasoning.
 */
export function usageFromMetadata(metadata: unknown): Usage | undefined {
  if (typeof metadata !== "object" || metadata === null) return undefined;
  const usage = metadata as UsageMetadata;
  if (typeof usage.input_tokens !== "number" && typeof usage.output_tokens !== "number") return undefined;
  const cacheRead = usage.input_token_details?.cache_read ?? 0;
  const cacheWrite = usage.input_token_details?.cache_creation ?? 0;
  return makeUsage({
    inputTokens: Math.max(0, (usage.input_tokens ?? 0) - cacheRead - cacheWrite),
    outputTokens: usage.output_tokens,
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
  });
}
