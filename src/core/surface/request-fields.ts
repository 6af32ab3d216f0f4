import { UsertrustError } from "../errors.ts";

/** The request object of an SDK method and its model id, or a typed error naming the method. */
export function requestWithModel<Body extends { model?: unknown }>(
  body: unknown,
  method: string,
  promptField: string,
): Body & { model: string } {
  if (typeof body !== "object" || body === null) {
    throw new UsertrustError(
      "INVALID_REQUEST",
      `${method} needs a request object with \`model\` and \`${promptField}\`.`,
    );
  }
  const request = body as Body;
  if (typeof request.model !== "string" || request.model === "") {
    throw new UsertrustError("INVALID_REQUEST", `${method} needs a \`model\` string to price the call.`);
  }
  return request as Body & { model: string };
}

/** A token cap or choice count as the SDKs take it: a positive safe integer, else absent. */
export function positiveInteger(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** A non-empty string, else absent (for actor ids). */
export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Tool names in any provider's tool list: OpenAI chat `{function: {name}}`, Anthropic and Responses
 * `{name}`, Gemini `{functionDeclarations: [{name}]}`; built-in tools by their `type` (OpenAI
 * `{type: "web_search"}`), or, for Gemini's, which have neither name nor type, by their key
 * (`{googleSearch: {}}`, `{codeExecution: {}}`, `{urlContext: {}}`; snake_case keys, which the
 * REST API also takes, in the SDK's camelCase). One Gemini tool object may hold several of them.
 */
export function toolNamesOf(tools: unknown): string[] {
  if (!Array.isArray(tools)) return [];
  const names: string[] = [];
  for (const tool of tools) {
    if (typeof tool !== "object" || tool === null) continue;
    const { name, type, function: fn } = tool as Record<string, unknown>;
    const functionName = (fn as { name?: unknown } | null | undefined)?.name;
    if (typeof functionName === "string") names.push(functionName);
    else if (typeof name === "string") names.push(name);
    else if (typeof type === "string") names.push(type);
    else names.push(...geminiToolNames(tool as Record<string, unknown>));
  }
  return names;
}

/** A Gemini tool object: its declared functions by name, its built-in tools by key. */
function geminiToolNames(tool: Record<string, unknown>): string[] {
  const names: string[] = [];
  for (const [key, value] of Object.entries(tool)) {
    if (value === undefined || value === null) continue;
    const field = key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
    if (field !== "functionDeclarations") names.push(field);
    else if (Array.isArray(value)) {
      for (const declaration of value) {
        const declared = (declaration as { name?: unknown } | null)?.name;
        if (typeof declared === "string") names.push(declared);
      }
    }
  }
  return names;
}

/** How many messages a request carries: an array's length, or 1 for a single prompt. */
export function messageCountOf(messages: unknown): number {
  if (Array.isArray(messages)) return messages.length;
  return messages === undefined || messages === null ? 0 : 1;
}
