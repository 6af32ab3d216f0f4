import type { BaseMessage } from "@langchain/core/messages";
import type { GovernedRequest } from "../../core/governed-request.ts";
import { anthropicCacheWriteOf } from "../../core/surface/anthropic-cache-control.ts";
import { anthropicTokenRatePercent } from "../../core/surface/anthropic-rate-premiums.ts";
import { usageFromAnthropic } from "../../core/surface/anthropic-usage.ts";
import {
  anthropicImageTokens,
  GEMINI_IMAGE_TOKENS,
  openAIImageTokens,
} from "../../core/surface/media-tokens.ts";
import {
  openAIRequestedTierPercent,
  openAIServedTierPercent,
  withServedTier,
} from "../../core/surface/openai-service-tiers.ts";
import { positiveInteger, toolNamesOf } from "../../core/surface/request-fields.ts";
import { guardTextsOf } from "../../core/surface/text-fields.ts";
import {
  anthropicWebSearchesMax,
  openAIFileSearchesMax,
  openAIWebSearchesMax,
} from "../../core/surface/web-search-tools.ts";
import { makeUsage, type Usage } from "../../core/usage.ts";

/** What usertrust reads of a LangChain chat model: its provider, model name, output cap and request fields. */
export interface ModelIdentity {
  provider: string;
  model: string;
  maxOutputTokens: number | undefined;
  /**
   * The provider request fields the model sends besides the messages (a chat model's
   * `invocationParams()`, initChatModel's config, a handler's `invocation_params`), in the API's
   * own names: the hold reads the service tier, speed, inference geography, tool-call ceiling and
   * output modalities there, as trust() reads them in a request body.
   */
  requestFields?: Readonly<Record<string, unknown>>;
}

/** "openai", "anthropic", "google-genai" … from the model's _llmType() and its fields. */
export function identify(model: unknown): ModelIdentity {
  const fields = model as {
    _llmType?: () => string;
    model?: unknown;
    modelName?: unknown;
    maxTokens?: unknown;
    maxOutputTokens?: unknown;
  };
  let type = typeof fields._llmType === "function" ? fields._llmType() : "unknown";
  let name = firstString(fields.model, fields.modelName) ?? type;
  let cap = typeof fields.maxTokens === "number" ? fields.maxTokens : fields.maxOutputTokens;
  // initChatModel and createAgent({ model: "openai:gpt-4o-mini" }) give a ConfigurableModel that
  // keeps the real model in its default config, optionally as "provider:model".
  const configured = configurableModelConfig(model);
  if (typeof configured?.model === "string") {
    const colon = configured.model.indexOf(":");
    name = colon >= 0 ? configured.model.slice(colon + 1) : configured.model;
    type = firstString(configured.modelProvider) ?? (colon >= 0 ? configured.model.slice(0, colon) : type);
    cap = typeof configured.maxTokens === "number" ? configured.maxTokens : configured.maxOutputTokens;
  }
  const provider = type.startsWith("google") || type.startsWith("vertex") ? "google" : type;
  const identity: ModelIdentity = {
    provider,
    model: name,
    maxOutputTokens: typeof cap === "number" && cap > 0 ? cap : undefined,
  };
  const requestFields = requestFieldsOf(model);
  if (requestFields !== undefined) identity.requestFields = requestFields;
  return identity;
}

/**
 * The request fields a model sends (on every call, or with a call's `options`): ChatOpenAI's
 * `service_tier`, `modalities`, `n` and `modelKwargs`, ChatAnthropic's `inference_geo` and
 * `invocationKwargs` (`speed`)… initChatModel's model sends none itself: they are read from its
 * config. Undefined for a model without `invocationParams()`, or one that cannot build them.
 */
export function requestFieldsOf(model: unknown, options?: unknown): Record<string, unknown> | undefined {
  const { invocationParams } = (model ?? {}) as { invocationParams?: (options?: unknown) => unknown };
  if (typeof invocationParams !== "function") return undefined;
  try {
    const params = invocationParams.call(model, options);
    if (typeof params === "object" && params !== null && Object.keys(params).length > 0)
      return params as Record<string, unknown>;
  } catch {
    return undefined;
  }
  // BaseChatModel's own answer is {}: a model that says nothing is unknown, unless it is
  // initChatModel's, which says nothing because the model it builds does the sending.
  const configured = configurableModelConfig(model);
  return configured === undefined ? undefined : configuredRequestFields(configured, options);
}

/** The default config of initChatModel's ConfigurableModel: the fields it builds the real model with. */
function configurableModelConfig(model: unknown): Record<string, unknown> | undefined {
  const fields = model as { _llmType?: () => string; _defaultConfig?: unknown } | null | undefined;
  if (typeof fields?._llmType !== "function" || fields._llmType() !== "chat_model") return undefined;
  const config = fields._defaultConfig;
  return typeof config === "object" && config !== null ? (config as Record<string, unknown>) : undefined;
}

/**
 * The request fields the model a ConfigurableModel builds from `config` sends, in the API's names,
 * as its invocationParams() would give them: ChatOpenAI's `service_tier`, `n`, `modalities` and
 * `modelKwargs` (e.g. `max_tool_calls`), ChatAnthropic's `inferenceGeo` and `invocationKwargs`
 * (`speed`); a call's own `service_tier`, `modalities` or `inferenceGeo` over them.
 */
function configuredRequestFields(config: Record<string, unknown>, options: unknown): Record<string, unknown> {
  const call = (options ?? {}) as Record<string, unknown>;
  const fields: Record<string, unknown> = {
    ...recordOf(config.modelKwargs),
    ...recordOf(config.invocationKwargs),
  };
  for (const key of ["service_tier", "n", "modalities"])
    if (config[key] !== undefined) fields[key] = config[key];
  if (config.inferenceGeo !== undefined) fields.inference_geo = config.inferenceGeo;
  if (call.service_tier !== undefined) fields.service_tier = call.service_tier;
  if (call.modalities !== undefined) fields.modalities = call.modalities;
  if (call.inferenceGeo !== undefined) fields.inference_geo = call.inferenceGeo;
  return fields;
}

function recordOf(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function firstString(...values: unknown[]): string | undefined {
  return values.find((value): value is string => typeof value === "string" && value !== "");
}

/**
 * Chat messages (and the tools offered to the call) as the engine's neutral request. `tools` is
 * what the surface has: LangChain tools (bindTools, an agent's tools) or a provider's tool list
 * (a handler's invocation params); either way their names become `toolNames`, as trust() sets
 * them, for the policy fields `tools` / `tool_count` and the board.
 */
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
          mediaTokens += imageTokens(identity.provider, identity.model);
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
    guardTexts: guardTextsOf(messages.map(conversationOf), [tools]),
  };
  if (mediaTokens > 0) request.mediaTokens = mediaTokens;
  const toolNames = toolNamesOf(tools);
  if (toolNames.length > 0) request.toolNames = toolNames;
  readRequestFields(request, identity, tools);
  if (identity.provider === "anthropic") {
    // ChatAnthropic sends content blocks and tools as they are, `cache_control` markers included.
    const contents = messages.map((message) => ({ content: message.content }));
    const cacheWrite = anthropicCacheWriteOf([identity.requestFields, tools, contents]);
    if (cacheWrite !== undefined) request.promptCacheWrite = cacheWrite;
  }
  return request;
}

/**
 * The request fields and provider tools that change what a call may cost, read as trust() reads
 * them: OpenAI `service_tier` (a premium rate), `max_tool_calls` over its web and file search
 * tools, `modalities` (audio output), `n` (choices, each up to the output cap); Anthropic `speed`
 * and `inference_geo` (their rate) and its web search tools' `max_uses`.
 */
function readRequestFields(request: GovernedRequest, identity: ModelIdentity, tools: unknown): void {
  const fields = identity.requestFields;
  let ratePercent = 100;
  if (identity.provider === "openai") {
    ratePercent = openAIRequestedTierPercent(identity.model, fields?.service_tier);
    const webSearches = openAIWebSearchesMax(tools, fields?.max_tool_calls);
    if (webSearches !== undefined) request.webSearchesMax = webSearches;
    const fileSearches = openAIFileSearchesMax(tools, fields?.max_tool_calls);
    if (fileSearches !== undefined) request.fileSearchesMax = fileSearches;
    const choices = positiveInteger(fields?.n);
    if (choices !== undefined && choices > 1) request.outputChoices = choices;
    // The model answers in text unless `modalities` asks for audio too (unknown without the fields).
    if (fields !== undefined) {
      const modalities = fields.modalities;
      request.outputModalities = Array.isArray(modalities) && modalities.includes("audio") ? ["audio"] : [];
    }
  } else if (identity.provider === "anthropic") {
    ratePercent = anthropicTokenRatePercent(identity.model, fields?.speed, fields?.inference_geo);
    const webSearches = anthropicWebSearchesMax(tools);
    if (webSearches !== undefined) request.webSearchesMax = webSearches;
  }
  if (ratePercent !== 100) request.tokenRatePercent = ratePercent;
}

/**
 * What OpenAI bills the service tier a call asks for, in percent of the standard rates: a reply
 * that names no tier is charged at it. Unlike the hold's rate it is the tier's own, flex's half
 * included (a flex call is held at the standard rates, in case it is served at another tier).
 * Undefined for other providers.
 */
export function requestedTierPercentOf(identity: ModelIdentity): number | undefined {
  if (identity.provider !== "openai") return undefined;
  return openAIServedTierPercent(identity.model, identity.requestFields?.service_tier);
}

/**
 * What of a message is conversation, for the guards and for redaction alike: its content and its
 * tool calls (LangChain's own, and a provider's copy in `additional_kwargs`).
 */
export function conversationOf(message: BaseMessage): MessageConversation {
  const view: MessageConversation = { content: message.content };
  const { tool_calls, invalid_tool_calls, additional_kwargs } = message as MessageToolCalls;
  if (Array.isArray(tool_calls) && tool_calls.length > 0) view.tool_calls = tool_calls;
  if (Array.isArray(invalid_tool_calls) && invalid_tool_calls.length > 0)
    view.invalid_tool_calls = invalid_tool_calls;
  const providerCalls = additional_kwargs?.tool_calls;
  if (Array.isArray(providerCalls) && providerCalls.length > 0) view.provider_tool_calls = providerCalls;
  return view;
}

/** A message's conversation as conversationOf reads it; redaction maps it and puts it back. */
export interface MessageConversation {
  content: BaseMessage["content"];
  tool_calls?: unknown[];
  invalid_tool_calls?: unknown[];
  /** `additional_kwargs.tool_calls`, in the provider's shape (OpenAI `function.arguments`). */
  provider_tool_calls?: unknown[];
}

interface MessageToolCalls {
  tool_calls?: unknown;
  invalid_tool_calls?: unknown;
  additional_kwargs?: { tool_calls?: unknown };
}

function imageTokens(provider: string, model: string): number {
  if (provider === "anthropic") return anthropicImageTokens(model);
  if (provider === "google") return GEMINI_IMAGE_TOKENS;
  return openAIImageTokens(undefined, model);
}

interface UsageMetadata {
  input_tokens?: number;
  output_tokens?: number;
  input_token_details?: { cache_read?: number; cache_creation?: number };
}

interface ProviderMetadata {
  model_provider?: unknown;
  /**
   * @langchain/openai: the tier that served the call (Responses; a chat stream's finishing chunk
   * of each choice). A stream's is as its last chunk named it (StreamMeter), never joined.
   */
  service_tier?: unknown;
  model_name?: unknown;
  /** @langchain/anthropic spreads the API's message here: its model names the fast-mode rate. */
  model?: unknown;
  /** @langchain/anthropic: the API's usage (whole responses), or its fields but the two counts (streams). */
  usage?: {
    input_tokens?: unknown;
    cache_creation?: { ephemeral_1h_input_tokens?: unknown };
    speed?: unknown;
    inference_geo?: unknown;
  };
}

/**
 * What a model's reply (a whole message, or a stream's chunks concatenated) cost. LangChain's
 * `usage_metadata` does not tell 1-hour from 5-minute Anthropic cache writes, so for Anthropic the
 * API's own usage in `response_metadata` is read: whole when present (also counting a compaction
 * step), else the 1-hour part of the writes, which a stream's first chunk carries.
 */
export function usageOfMessage(message: unknown, requestedTierPercent?: number): Usage | undefined {
  const fields = message as { usage_metadata?: unknown; response_metadata?: ProviderMetadata } | undefined;
  const metadata = fields?.response_metadata;
  const usage = usageFromMetadata(fields?.usage_metadata);
  if (metadata?.model_provider === "openai" && usage !== undefined)
    return atOpenAITier(usage, metadata, requestedTierPercent);
  if (metadata?.model_provider !== "anthropic") return usage;
  const api = metadata.usage;
  const model = typeof metadata.model === "string" ? metadata.model : undefined;
  if (typeof api?.input_tokens === "number") return usageFromAnthropic(api, model);
  if (usage === undefined) return usage;
  // A stream's chunks carry the API usage's other fields: its 1-hour writes and rate premiums.
  const writes1h = api?.cache_creation?.ephemeral_1h_input_tokens;
  return makeUsage({
    ...usage,
    cacheWrite1hTokens: typeof writes1h === "number" ? writes1h : undefined,
    tokenRatePercent: anthropicTokenRatePercent(model, api?.speed, api?.inference_geo),
  });
}

/**
 * An OpenAI reply is priced at the service tier that served it, which @langchain/openai passes on
 * in `response_metadata.service_tier` for Responses replies and chat streams. A whole chat
 * completion's metadata leaves it out: it is then priced at what the tier the request asked for
 * bills (`requestedTierPercent`, see requestedTierPercentOf), what OpenAI charges unless it
 * serves the call at another tier.
 */
function atOpenAITier(
  usage: Usage,
  metadata: ProviderMetadata,
  requestedTierPercent: number | undefined,
): Usage {
  const tier = metadata.service_tier;
  if (typeof tier === "string" && tier !== "") return withServedTier(usage, modelNameOf(metadata), tier);
  if (requestedTierPercent === undefined || requestedTierPercent === 100) return usage;
  return makeUsage({ ...usage, tokenRatePercent: requestedTierPercent });
}

/** The model that answered: `model_name` (@langchain/openai), else `model`. */
function modelNameOf(metadata: ProviderMetadata): string | undefined {
  const name = metadata.model_name ?? metadata.model;
  return typeof name === "string" ? name : undefined;
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
