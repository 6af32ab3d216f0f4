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

/** The parts of a chat-completions body usertrust reads; everything else is forwarded untouched. */
interface ChatBody {
  model?: unknown;
  messages?: unknown;
  tools?: unknown;
  functions?: unknown;
  response_format?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
  n?: unknown;
  user?: unknown;
  modalities?: unknown;
  service_tier?: unknown;
}

/** Translates a chat.completions.create body into the engine's neutral request. */
export function chatRequestToGoverned(body: unknown): GovernedRequest {
  const chat = requestWithModel<ChatBody>(body, "chat.completions.create", "messages");
  const promptParts: string[] = [];
  const media = { tokens: 0, model: chat.model };
  if (Array.isArray(chat.messages))
    for (const message of chat.messages) collectMessageText(message, promptParts, media);
  for (const extra of [chat.tools, chat.functions, chat.response_format]) {
    if (extra !== undefined && extra !== null) promptParts.push(JSON.stringify(extra));
  }
  const choices = positiveInteger(chat.n);
  const request: GovernedRequest = {
    provider: "openai",
    model: chat.model,
    promptParts,
    guardTexts: guardTextsOf(body, [chat.tools, chat.functions, chat.response_format]),
    maxOutputTokens: maxOutput(chat),
  };
  if (choices !== undefined && choices > 1) request.outputChoices = choices;
  if (media.tokens > 0) request.mediaTokens = media.tokens;
  // Chat completions answer in text unless `modalities` asks for audio too.
  request.outputModalities =
    Array.isArray(chat.modalities) && chat.modalities.includes("audio") ? ["audio"] : [];
  const ratePercent = openAIRequestedTierPercent(chat.model, chat.service_tier);
  if (ratePercent !== 100) request.tokenRatePercent = ratePercent;
  const actor = nonEmptyString(chat.user);
  if (actor !== undefined) request.actor = actor;
  const toolNames = toolNamesOf(chat.tools ?? chat.functions);
  if (toolNames.length > 0) request.toolNames = toolNames;
  request.messageCount = messageCountOf(chat.messages);
  return request;
}

/** Output cap per choice; the engine multiplies it by the number of choices. */
function maxOutput(chat: ChatBody): number | undefined {
  return positiveInteger(chat.max_completion_tokens) ?? positiveInteger(chat.max_tokens);
}

function collectMessageText(
  message: unknown,
  into: string[],
  media: { tokens: number; model: string },
): void {
  if (typeof message !== "object" || message === null) return;
  const {
    content,
    tool_calls: toolCalls,
    function_call: functionCall,
    name,
  } = message as Record<string, unknown>;
  if (typeof content === "string") into.push(content);
  else if (Array.isArray(content)) {
    for (const part of content) media.tokens += collectContentPart(part, into, media.model);
  }
  if (typeof name === "string") into.push(name);
  if (toolCalls !== undefined && toolCalls !== null) into.push(JSON.stringify(toolCalls));
  if (functionCall !== undefined && functionCall !== null) into.push(JSON.stringify(functionCall));
}

/** One part of a message's content array: text, an image, a file, or audio; returns its media tokens. */
function collectContentPart(part: unknown, into: string[], model: string): number {
  const { type, text, image_url: image, file, input_audio: audio } = (part ?? {}) as Record<string, unknown>;
  if (typeof text === "string") into.push(text);
  else if (type === "image_url")
    return openAIImageTokens((image as { detail?: unknown } | null)?.detail, model);
  else if (type === "file") {
    const data = (file as { file_data?: unknown } | null)?.file_data;
    if (typeof data === "string") return pdfTokens(data, PDF_PAGE_TOKENS.openai);
  } else if (type === "input_audio") {
    // Audio is billed per second; its base64 bytes / 3 is a generous bound for compressed audio.
    const data = (audio as { data?: unknown } | null)?.data;
    if (typeof data === "string") return Math.ceil(data.length / 4);
  }
  return 0;
}
