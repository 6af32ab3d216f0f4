import { UsertrustError } from "../../core/errors.ts";
import type { GovernedRequest } from "../../core/governed-request.ts";

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
}

/** Translates a chat.completions.create body into the engine's neutral request. */
export function chatRequestToGoverned(body: unknown): GovernedRequest {
  if (typeof body !== "object" || body === null) {
    throw new UsertrustError(
      "INVALID_REQUEST",
      "chat.completions.create needs a request object with `model` and `messages`.",
    );
  }
  const chat = body as ChatBody;
  if (typeof chat.model !== "string" || chat.model === "") {
    throw new UsertrustError(
      "INVALID_REQUEST",
      "chat.completions.create needs a `model` string to price the call.",
    );
  }
  const promptParts: string[] = [];
  if (Array.isArray(chat.messages))
    for (const message of chat.messages) collectMessageText(message, promptParts);
  for (const extra of [chat.tools, chat.functions, chat.response_format]) {
    if (extra !== undefined && extra !== null) promptParts.push(JSON.stringify(extra));
  }
  const choices = positiveInteger(chat.n);
  const request: GovernedRequest = {
    provider: "openai",
    model: chat.model,
    promptParts,
    maxOutputTokens: maxOutput(chat),
  };
  if (choices !== undefined && choices > 1) request.outputChoices = choices;
  if (typeof chat.user === "string" && chat.user !== "") request.actor = chat.user;
  return request;
}

/** Output cap per choice; the engine multiplies it by the number of choices. */
function maxOutput(chat: ChatBody): number | undefined {
  return positiveInteger(chat.max_completion_tokens) ?? positiveInteger(chat.max_tokens);
}

function collectMessageText(message: unknown, into: string[]): void {
  if (typeof message !== "object" || message === null) return;
  const {
    content,
    tool_calls: toolCalls,
    function_call: functionCall,
    name,
  } = message as Record<string, unknown>;
  if (typeof content === "string") into.push(content);
  else if (Array.isArray(content)) {
    for (const part of content) {
      const text = (part as { text?: unknown } | null)?.text;
      if (typeof text === "string") into.push(text);
    }
  }
  if (typeof name === "string") into.push(name);
  if (toolCalls !== undefined && toolCalls !== null) into.push(JSON.stringify(toolCalls));
  if (functionCall !== undefined && functionCall !== null) into.push(JSON.stringify(functionCall));
}

function positiveInteger(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
