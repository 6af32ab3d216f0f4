import type {
  LanguageModelV4CallOptions,
  LanguageModelV4Prompt,
  SharedV4ProviderOptions,
} from "@ai-sdk/provider";
import type { GovernedRequest } from "../../core/governed-request.ts";
import { anthropicTokenRatePercent } from "../../core/surface/anthropic-rate-premiums.ts";
import {
  anthropicImageTokens,
  GEMINI_IMAGE_TOKENS,
  openAIImageTokens,
  PDF_PAGE_TOKENS,
  pdfTokens,
} from "../../core/surface/media-tokens.ts";
import { openAIRequestedTierPercent } from "../../core/surface/openai-service-tiers.ts";
import { toolNamesOf } from "../../core/surface/request-fields.ts";
import { guardTextsOf } from "../../core/surface/text-fields.ts";
import {
  anthropicWebSearchesMax,
  openAIFileSearchesMax,
  openAIWebSearchesMax,
} from "../../core/surface/web-search-tools.ts";

/** "openai.chat", "anthropic.messages", "google.generative-ai" → the price table's provider. */
export function providerOf(modelProvider: string): string {
  const family = modelProvider.split(".")[0] ?? modelProvider;
  if (family === "google" || family === "vertex") return "google";
  return family;
}

/** A V4 call's parameters as the engine's neutral request (every prompt part, tools, schema, output cap). */
export function callToGoverned(
  params: LanguageModelV4CallOptions,
  provider: string,
  modelId: string,
): GovernedRequest {
  const prompt = { parts: [] as string[], mediaTokens: 0, model: modelId };
  collectPrompt(params.prompt, provider, prompt);
  if (params.tools !== undefined && params.tools.length > 0) prompt.parts.push(JSON.stringify(params.tools));
  if (params.responseFormat?.type === "json" && params.responseFormat.schema !== undefined) {
    prompt.parts.push(JSON.stringify(params.responseFormat.schema));
  }
  const request: GovernedRequest = {
    provider,
    model: modelId,
    promptParts: prompt.parts,
    // Redaction rewrites the prompt only (see middleware.ts), so the PII guard reads the prompt only.
    guardTexts: guardTextsOf(params.prompt, [params.tools, params.responseFormat]),
    maxOutputTokens: params.maxOutputTokens,
    messageCount: params.prompt.length,
  };
  if (prompt.mediaTokens > 0) request.mediaTokens = prompt.mediaTokens;
  const toolNames = toolNamesOf(params.tools);
  if (toolNames.length > 0) request.toolNames = toolNames;
  readProviderOptions(request, params, provider, modelId);
  return request;
}

/**
 * What the provider's own options and tools add to the hold, read as trust() reads the same fields
 * of the request body they become: OpenAI `serviceTier` (its premium rate) and the searches its
 * built-in tools may run under `maxToolCalls`; Anthropic `speed` and `inferenceGeo` (their rate),
 * its web search tools' `maxUses` and `cacheControl` (the prompt is written to the cache).
 */
function readProviderOptions(
  request: GovernedRequest,
  params: LanguageModelV4CallOptions,
  provider: string,
  modelId: string,
): void {
  const options = (params.providerOptions?.[provider] ?? {}) as Record<string, unknown>;
  const tools = providerToolsOf(params.tools, provider);
  let ratePercent = 100;
  if (provider === "openai") {
    ratePercent = openAIRequestedTierPercent(modelId, options.serviceTier);
    const webSearches = openAIWebSearchesMax(tools, options.maxToolCalls);
    if (webSearches !== undefined) request.webSearchesMax = webSearches;
    const fileSearches = openAIFileSearchesMax(tools, options.maxToolCalls);
    if (fileSearches !== undefined) request.fileSearchesMax = fileSearches;
    // @ai-sdk/openai's language models answer in text: they have no option for audio output.
    request.outputModalities = [];
  } else if (provider === "anthropic") {
    ratePercent = anthropicTokenRatePercent(modelId, options.speed, options.inferenceGeo);
    const webSearches = anthropicWebSearchesMax(tools);
    if (webSearches !== undefined) request.webSearchesMax = webSearches;
    const cacheWrite = cacheWriteOfOptions(params);
    if (cacheWrite !== undefined) request.promptCacheWrite = cacheWrite;
  }
  if (ratePercent !== 100) request.tokenRatePercent = ratePercent;
}

/**
 * The longest cache lifetime any Anthropic `cacheControl` asks for — on the call (automatic
 * caching), a message, a content part or a tool — as @ai-sdk/anthropic reads it (also as
 * `cache_control`); undefined when nothing is cached. The prompt is then held at the write rate.
 */
function cacheWriteOfOptions(params: LanguageModelV4CallOptions): "5m" | "1h" | undefined {
  let found: "5m" | "1h" | undefined;
  const note = (options: SharedV4ProviderOptions | undefined): void => {
    const anthropic = options?.anthropic;
    const control = anthropic?.cacheControl ?? anthropic?.cache_control;
    if (typeof control !== "object" || control === null) return;
    found = (control as { ttl?: unknown }).ttl === "1h" || found === "1h" ? "1h" : "5m";
  };
  note(params.providerOptions);
  for (const message of params.prompt) {
    note(message.providerOptions);
    if (typeof message.content !== "string") for (const part of message.content) note(part.providerOptions);
  }
  for (const tool of params.tools ?? []) if (tool.type === "function") note(tool.providerOptions);
  return found;
}

/**
 * The provider's built-in tools in the shape of its API's tool list: a V4 provider tool
 * `{ type: "provider", id: "anthropic.web_search_20250305", args: { maxUses } }` is sent as
 * `{ type: "web_search_20250305", max_uses }`.
 */
function providerToolsOf(tools: LanguageModelV4CallOptions["tools"], provider: string): unknown[] {
  const wire: unknown[] = [];
  for (const tool of tools ?? []) {
    if (tool.type !== "provider" || !tool.id.startsWith(`${provider}.`)) continue;
    const maxUses = tool.args.maxUses;
    wire.push({
      type: tool.id.slice(provider.length + 1),
      ...(maxUses === undefined ? {} : { max_uses: maxUses }),
    });
  }
  return wire;
}

function collectPrompt(
  messages: LanguageModelV4Prompt,
  provider: string,
  into: { parts: string[]; mediaTokens: number; model: string },
): void {
  for (const message of messages) {
    if (typeof message.content === "string") {
      into.parts.push(message.content);
      continue;
    }
    for (const part of message.content) {
      switch (part.type) {
        case "text":
        case "reasoning":
          into.parts.push(part.text);
          break;
        case "tool-call":
          into.parts.push(JSON.stringify(part.input));
          break;
        case "tool-result":
          into.parts.push(JSON.stringify(part.output));
          break;
        case "file":
          into.mediaTokens += fileTokens(part.mediaType, part.data, provider, into.model);
          break;
        default:
          into.parts.push(JSON.stringify(part));
      }
    }
  }
}

/** Images and PDFs by the provider's documented rule (see media-tokens.ts); other files by bytes / 3. */
function fileTokens(mediaType: string, data: unknown, provider: string, model: string): number {
  if (mediaType.startsWith("image/")) {
    if (provider === "anthropic") return anthropicImageTokens(model);
    if (provider === "google") return GEMINI_IMAGE_TOKENS;
    return openAIImageTokens(undefined, model);
  }
  const base64 = base64Of(data);
  if (mediaType === "application/pdf" && base64 !== "") {
    const perPage = provider === "google" ? PDF_PAGE_TOKENS.google : PDF_PAGE_TOKENS.anthropic;
    return pdfTokens(base64, perPage);
  }
  return Math.ceil((base64.length * 3) / 4 / 3);
}

/**
 * A file part's bytes as base64. In LanguageModelV4 `data` is tagged: `{ type: "data", data }`
 * (base64 or bytes), `{ type: "text", text }`, or `{ type: "url", url }` (not visible to us: 0, as
 * for files sent by reference elsewhere); a bare string or Uint8Array is read as it is.
 */
function base64Of(data: unknown): string {
  if (typeof data === "string") return data;
  if (data instanceof Uint8Array) return Buffer.from(data).toString("base64");
  if (typeof data !== "object" || data === null) return "";
  const tagged = data as { type?: unknown; data?: unknown; text?: unknown };
  if (tagged.type === "data") return base64Of(tagged.data);
  if (tagged.type === "text" && typeof tagged.text === "string")
    return Buffer.from(tagged.text, "utf8").toString("base64");
  return "";
}
