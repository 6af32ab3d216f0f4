import { UsertrustError } from "../../core/errors.ts";
import type { GovernedRequest } from "../../core/governed-request.ts";
import { ANTHROPIC_IMAGE_TOKENS, PDF_PAGE_TOKENS, pdfTokens } from "../media-tokens.ts";

/** The parts of a messages.create body usertrust reads; everything else is forwarded untouched. */
interface MessagesBody {
  model?: unknown;
  system?: unknown;
  messages?: unknown;
  tools?: unknown;
  max_tokens?: unknown;
  metadata?: { user_id?: unknown } | null;
}

/** Translates an Anthropic messages.create body into the engine's neutral request. */
export function messagesRequestToGoverned(body: unknown): GovernedRequest {
  if (typeof body !== "object" || body === null) {
    throw new UsertrustError(
      "INVALID_REQUEST",
      "messages.create needs a request object with `model` and `messages`.",
    );
  }
  const params = body as MessagesBody;
  if (typeof params.model !== "string" || params.model === "") {
    throw new UsertrustError("INVALID_REQUEST", "messages.create needs a `model` string to price the call.");
  }
  const prompt: Prompt = { parts: [], mediaTokens: 0 };
  collectContent(params.system, prompt);
  if (Array.isArray(params.messages)) {
    for (const message of params.messages)
      collectContent((message as { content?: unknown } | null)?.content, prompt);
  }
  if (params.tools !== undefined && params.tools !== null) prompt.parts.push(JSON.stringify(params.tools));
  const maxTokens = params.max_tokens;
  const request: GovernedRequest = {
    provider: "anthropic",
    model: params.model,
    promptParts: prompt.parts,
    maxOutputTokens:
      typeof maxTokens === "number" && Number.isSafeInteger(maxTokens) && maxTokens > 0
        ? maxTokens
        : undefined,
  };
  if (prompt.mediaTokens > 0) request.mediaTokens = prompt.mediaTokens;
  const userId = params.metadata?.user_id;
  if (typeof userId === "string" && userId !== "") request.actor = userId;
  return request;
}

interface Prompt {
  parts: string[];
  mediaTokens: number;
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
    else if (type === "image") into.mediaTokens += ANTHROPIC_IMAGE_TOKENS;
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
