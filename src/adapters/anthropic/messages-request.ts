import { UsertrustError } from "../../core/errors.ts";
import type { GovernedRequest } from "../../core/governed-request.ts";

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
  const promptParts: string[] = [];
  collectContentText(params.system, promptParts);
  if (Array.isArray(params.messages)) {
    for (const message of params.messages)
      collectContentText((message as { content?: unknown } | null)?.content, promptParts);
  }
  if (params.tools !== undefined && params.tools !== null) promptParts.push(JSON.stringify(params.tools));
  const maxTokens = params.max_tokens;
  const request: GovernedRequest = {
    provider: "anthropic",
    model: params.model,
    promptParts,
    maxOutputTokens:
      typeof maxTokens === "number" && Number.isSafeInteger(maxTokens) && maxTokens > 0
        ? maxTokens
        : undefined,
  };
  const userId = params.metadata?.user_id;
  if (typeof userId === "string" && userId !== "") request.actor = userId;
  return request;
}

/** Content is a string or an array of blocks: text, tool use (its input) and tool results count. */
function collectContentText(content: unknown, into: string[]): void {
  if (typeof content === "string") {
    into.push(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content) {
    const { type, text, input, content: nested } = (block ?? {}) as Record<string, unknown>;
    if (typeof text === "string") into.push(text);
    else if (type === "tool_use" && input !== undefined) into.push(JSON.stringify(input));
    else if (type === "tool_result") collectContentText(nested, into);
  }
}
