import type { GovernedRequest } from "../../core/governed-request.ts";
import { GEMINI_IMAGE_TOKENS, geminiInlineTokens } from "../../core/surface/media-tokens.ts";
import {
  messageCountOf,
  positiveInteger,
  requestWithModel,
  toolNamesOf,
} from "../../core/surface/request-fields.ts";
import { guardTextsOf } from "../../core/surface/text-fields.ts";
import { MODALITIES, type Modality } from "../../core/usage.ts";

interface GenerateParams {
  model?: unknown;
  contents?: unknown;
  config?: {
    systemInstruction?: unknown;
    tools?: unknown;
    maxOutputTokens?: unknown;
    candidateCount?: unknown;
    responseSchema?: unknown;
    responseJsonSchema?: unknown;
    responseModalities?: unknown;
  } | null;
}

/**
 * The model id as the price table knows it: "models/gemini-2.5-flash", "tunedModels/…" and
 * "publishers/google/models/gemini-2.5-flash" all name their last path segment.
 */
export function geminiModelId(model: string): string {
  const slash = model.lastIndexOf("/");
  return slash >= 0 ? model.slice(slash + 1) : model;
}

/** Translates generateContent / generateContentStream / embedContent parameters into the engine's request. */
export function geminiRequestToGoverned(params: unknown, method: string): GovernedRequest {
  const { model, contents, config } = requestWithModel<GenerateParams>(
    params,
    `models.${method}`,
    "contents",
  );
  const prompt: Prompt = { parts: [], mediaTokens: 0 };
  collectContents(config?.systemInstruction, prompt);
  collectContents(contents, prompt);
  for (const extra of [config?.tools, config?.responseSchema, config?.responseJsonSchema]) {
    if (extra !== undefined && extra !== null) prompt.parts.push(JSON.stringify(extra));
  }
  const candidates = positiveInteger(config?.candidateCount);
  const request: GovernedRequest = {
    provider: "google",
    model: geminiModelId(model),
    promptParts: prompt.parts,
    maxOutputTokens: positiveInteger(config?.maxOutputTokens),
    // What redaction rewrites is the whole body sent (redactCall): the PII guard reads the same.
    guardTexts: guardTextsOf(params, [config?.tools, config?.responseSchema, config?.responseJsonSchema]),
  };
  if (candidates !== undefined && candidates > 1) request.outputChoices = candidates;
  if (prompt.mediaTokens > 0) request.mediaTokens = prompt.mediaTokens;
  const outputModalities = responseModalitiesOf(config?.responseModalities);
  if (outputModalities !== undefined) request.outputModalities = outputModalities;
  const toolNames = toolNamesOf(config?.tools);
  if (toolNames.length > 0) request.toolNames = toolNames;
  request.messageCount = messageCountOf(contents);
  return request;
}

/**
 * The non-text outputs `responseModalities` allows, or undefined when it is not set: a model then
 * answers in its default modalities (an image model draws unasked), which the hold covers.
 */
function responseModalitiesOf(modalities: unknown): Modality[] | undefined {
  if (!Array.isArray(modalities)) return undefined;
  const allowed: Modality[] = [];
  for (const modality of MODALITIES) {
    if (modalities.some((named) => typeof named === "string" && named.toLowerCase() === modality))
      allowed.push(modality);
  }
  return allowed;
}

interface Prompt {
  parts: string[];
  mediaTokens: number;
}

/** Contents may be a string, a Part, a Content ({role, parts}), or an array of any of these. */
function collectContents(value: unknown, into: Prompt): void {
  if (typeof value === "string") into.parts.push(value);
  else if (Array.isArray(value)) for (const item of value) collectContents(item, into);
  else if (typeof value === "object" && value !== null) {
    const { parts } = value as { parts?: unknown };
    if (Array.isArray(parts)) for (const part of parts) collectPart(part, into);
    else collectPart(value, into);
  }
}

function collectPart(part: unknown, into: Prompt): void {
  if (typeof part !== "object" || part === null) return;
  const { text, inlineData, fileData, functionCall, functionResponse } = part as Record<string, unknown>;
  if (typeof text === "string") into.parts.push(text);
  if (inlineData !== undefined && inlineData !== null) {
    const { mimeType, data } = inlineData as { mimeType?: unknown; data?: unknown };
    into.mediaTokens += geminiInlineTokens(mimeType, data);
  }
  if (fileData !== undefined && fileData !== null) {
    // A file by URI is invisible to us; an image's ceiling is counted, other media are not.
    const { mimeType } = fileData as { mimeType?: unknown };
    if (typeof mimeType === "string" && mimeType.startsWith("image/"))
      into.mediaTokens += GEMINI_IMAGE_TOKENS;
  }
  for (const call of [functionCall, functionResponse]) {
    if (call !== undefined && call !== null) into.parts.push(JSON.stringify(call));
  }
}
