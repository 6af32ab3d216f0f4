import type { LanguageModelV4CallOptions, LanguageModelV4Prompt } from "@ai-sdk/provider";
import type { GovernedRequest } from "../../core/governed-request.ts";
import {
  anthropicImageTokens,
  GEMINI_IMAGE_TOKENS,
  openAIImageTokens,
  PDF_PAGE_TOKENS,
  pdfTokens,
} from "../../core/surface/media-tokens.ts";
import { toolNamesOf } from "../../core/surface/request-fields.ts";
import { guardTextsOf } from "../../core/surface/text-fields.ts";

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
  return request;
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
