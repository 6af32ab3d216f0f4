import type { GovernedRequest } from "../../core/governed-request.ts";
import { openAIImageTokens, PDF_PAGE_TOKENS, pdfTokens } from "../../core/surface/media-tokens.ts";
import { openAIRequestedTierPercent } from "../../core/surface/openai-service-tiers.ts";
import {
  messageCountOf,
  nonEmptyString,
  positiveInteger,
  requestWithModel,
  toolNamesOf,
} from "../../core/surface/request-fields.ts";
import { guardTextsOf } from "../../core/surface/text-fields.ts";
import { openAIFileSearchesMax, openAIWebSearchesMax } from "../../core/surface/web-search-tools.ts";

/** The parts of a responses.create body usertrust reads; everything else is forwarded untouched. */
interface ResponsesBody {
  model?: unknown;
  input?: unknown;
  instructions?: unknown;
  tools?: unknown;
  text?: unknown;
  max_output_tokens?: unknown;
  max_tool_calls?: unknown;
  user?: unknown;
  safety_identifier?: unknown;
  service_tier?: unknown;
}

/**
 * Translates a responses.create body into the engine's neutral request. Context the server keeps
 * (`previous_response_id`, `conversation`, stored prompts) is not in the body, so the hold cannot
 * see it; the provider's usage still settles the real cost.
 */
export function responsesRequestToGoverned(body: unknown): GovernedRequest {
  const params = requestWithModel<ResponsesBody>(body, "responses.create", "input");
  const prompt: Prompt = { parts: [], mediaTokens: 0, model: params.model };
  if (typeof params.instructions === "string") prompt.parts.push(params.instructions);
  if (typeof params.input === "string") prompt.parts.push(params.input);
  else if (Array.isArray(params.input)) for (const item of params.input) collectItem(item, prompt);
  for (const extra of [params.tools, params.text]) {
    if (extra !== undefined && extra !== null) prompt.parts.push(JSON.stringify(extra));
  }
  const request: GovernedRequest = {
    provider: "openai",
    model: params.model,
    promptParts: prompt.parts,
    guardTexts: guardTextsOf(body, [params.tools, params.text]),
    maxOutputTokens: positiveInteger(params.max_output_tokens),
  };
  if (prompt.mediaTokens > 0) request.mediaTokens = prompt.mediaTokens;
  const webSearches = openAIWebSearchesMax(params.tools, params.max_tool_calls);
  if (webSearches !== undefined) request.webSearchesMax = webSearches;
  const fileSearches = openAIFileSearchesMax(params.tools, params.max_tool_calls);
  if (fileSearches !== undefined) request.fileSearchesMax = fileSearches;
  const ratePercent = openAIRequestedTierPercent(params.model, params.service_tier);
  if (ratePercent !== 100) request.tokenRatePercent = ratePercent;
  const actor = nonEmptyString(params.user) ?? nonEmptyString(params.safety_identifier);
  if (actor !== undefined) request.actor = actor;
  const toolNames = toolNamesOf(params.tools);
  if (toolNames.length > 0) request.toolNames = toolNames;
  request.messageCount = messageCountOf(params.input);
  return request;
}

interface Prompt {
  parts: string[];
  mediaTokens: number;
  /** Images are sized by the model that reads them. */
  model: string;
}

/** An input item: a message (string or content parts), or any other item (tool calls, outputs) as JSON. */
function collectItem(item: unknown, into: Prompt): void {
  if (typeof item !== "object" || item === null) return;
  const { content } = item as { content?: unknown };
  if (typeof content === "string") into.parts.push(content);
  else if (Array.isArray(content)) for (const part of content) collectPart(part, into);
  else into.parts.push(JSON.stringify(item));
}

function collectPart(part: unknown, into: Prompt): void {
  const { type, text, detail, file_data: fileData } = (part ?? {}) as Record<string, unknown>;
  if (typeof text === "string") into.parts.push(text);
  else if (type === "input_image") into.mediaTokens += openAIImageTokens(detail, into.model);
  else if (type === "input_file" && typeof fileData === "string") {
    into.mediaTokens += pdfTokens(fileData, PDF_PAGE_TOKENS.openai);
  }
}
