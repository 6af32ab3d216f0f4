import type { GovernedRequest } from "../../core/governed-request.ts";
import { anthropicCacheWriteOf } from "../../core/surface/anthropic-cache-control.ts";
import { anthropicTokenRatePercent } from "../../core/surface/anthropic-rate-premiums.ts";
import { anthropicImageTokens, PDF_PAGE_TOKENS, pdfTokens } from "../../core/surface/media-tokens.ts";
import {
  messageCountOf,
  nonEmptyString,
  positiveInteger,
  requestWithModel,
  toolNamesOf,
} from "../../core/surface/request-fields.ts";
import { guardTextsOf } from "../../core/surface/text-fields.ts";
import { anthropicWebSearchesMax } from "../../core/surface/web-search-tools.ts";

/** The parts of a messages.create body usertrust reads; everything else is forwarded untouched. */
interface MessagesBody {
  model?: unknown;
  system?: unknown;
  messages?: unknown;
  tools?: unknown;
  max_tokens?: unknown;
  metadata?: { user_id?: unknown } | null;
  speed?: unknown;
  inference_geo?: unknown;
}

/** Translates an Anthropic messages.create body into the engine's neutral request. */
export function messagesRequestToGoverned(body: unknown): GovernedRequest {
  const params = requestWithModel<MessagesBody>(body, "messages.create", "messages");
  const prompt: Prompt = { parts: [], mediaTokens: 0, model: params.model };
  collectContent(params.system, prompt);
  if (Array.isArray(params.messages)) {
    for (const message of params.messages)
      collectContent((message as { content?: unknown } | null)?.content, prompt);
  }
  if (params.tools !== undefined && params.tools !== null) prompt.parts.push(JSON.stringify(params.tools));
  const request: GovernedRequest = {
    provider: "anthropic",
    model: params.model,
    promptParts: prompt.parts,
    guardTexts: guardTextsOf(body, [params.tools]),
    maxOutputTokens: positiveInteger(params.max_tokens),
  };
  if (prompt.mediaTokens > 0) request.mediaTokens = prompt.mediaTokens;
  const cacheWrite = anthropicCacheWriteOf([params, params.system, params.tools, params.messages]);
  if (cacheWrite !== undefined) request.promptCacheWrite = cacheWrite;
  const webSearches = anthropicWebSearchesMax(params.tools);
  if (webSearches !== undefined) request.webSearchesMax = webSearches;
  const ratePercent = anthropicTokenRatePercent(params.model, params.speed, params.inference_geo);
  if (ratePercent !== 100) request.tokenRatePercent = ratePercent;
  const actor = nonEmptyString(params.metadata?.user_id);
  if (actor !== undefined) request.actor = actor;
  const toolNames = toolNamesOf(params.tools);
  if (toolNames.length > 0) request.toolNames = toolNames;
  request.messageCount = messageCountOf(params.messages);
  return request;
}

interface Prompt {
  parts: string[];
  mediaTokens: number;
  /** Images are sized by the model that reads them. */
  model: string;
}

/** Content is a string or an array of blocks: text, tool use (its input), tool results, images, documents. */
function collectContent(content: unknown, into: Prompt): void {
  if (typeof content === "string") {
    into.parts.push(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content) {
    const { type, text, input, content: nested, source } = (block ?? {}) as Record<string, unknown>;
    if (typeof text === "string") into.parts.push(text);
    else if (type === "tool_use" && input !== undefined) into.parts.push(JSON.stringify(input));
    else if (type === "tool_result") collectContent(nested, into);
    else if (type === "image") into.mediaTokens += anthropicImageTokens(into.model);
    else if (type === "document") collectDocument(source, into);
  }
}

/** A document is a base64 PDF (sized per page), plain text, nested content blocks, or a URL we cannot see. */
function collectDocument(source: unknown, into: Prompt): void {
  const { type, data, content } = (source ?? {}) as Record<string, unknown>;
  if (type === "base64" && typeof data === "string")
    into.mediaTokens += pdfTokens(data, PDF_PAGE_TOKENS.anthropic);
  else if (type === "text" && typeof data === "string") into.parts.push(data);
  else if (type === "content") collectContent(content, into);
  else into.mediaTokens += PDF_PAGE_TOKENS.anthropic;
}
