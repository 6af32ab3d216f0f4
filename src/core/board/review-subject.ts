/**
 * What the detectors look at, read once per review from the loosely typed review context. The engine
 * passes, for a model call (kind "spend"): model, provider, estimatedCost (UT), budget, budgetRemaining,
 * maxOutputTokens, promptLength, messageCount, toolNames, prompt, policyWarnings, piiKinds,
 * injectionKinds, requestsLastMinute; for a tool call (kind "tool_call"): toolName, arguments.
 * Anything missing or of the wrong type reads as absent: the board never throws on a context.
 */

/**
 * Text scanners read at most this much of the prompt, the tool arguments and the response: all of a
 * shorter text, else its first and last halves (what is new in a conversation is at its end).
 */
export const SCANNED_CHARS_MAX = 16_384;

export interface ReviewInput {
  kind: string;
  description: string;
  scope: readonly string[];
  context: Readonly<Record<string, unknown>>;
}

export interface ReviewSubject {
  kind: string;
  description: string;
  scope: readonly string[];
  context: Readonly<Record<string, unknown>>;
  /** `context.prompt`, cut to SCANNED_CHARS_MAX by scanWindow ("" when absent). */
  prompt: string;
  /** The tool call's arguments as JSON, cut to SCANNED_CHARS_MAX by scanWindow ("" when absent). */
  toolArguments: string;
  /** `context.response`, cut to SCANNED_CHARS_MAX by scanWindow ("" when absent). */
  response: string;
  /** `context.toolNames` and `context.toolName` together. */
  tools: readonly string[];
}

export function readSubject(input: ReviewInput): ReviewSubject {
  const { context } = input;
  const tools = readStrings(context, "toolNames");
  const toolName = readString(context, "toolName");
  return {
    kind: input.kind,
    description: input.description,
    scope: input.scope,
    context,
    prompt: scanWindow(readString(context, "prompt")),
    toolArguments: scanWindow(argumentsAsText(context.arguments)),
    response: scanWindow(readString(context, "response")),
    tools: toolName === undefined || tools.includes(toolName) ? tools : [...tools, toolName],
  };
}

export function readNumber(context: Readonly<Record<string, unknown>>, key: string): number | undefined {
  const value = context[key];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export function readString(context: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = context[key];
  return typeof value === "string" ? value : undefined;
}

export function readStrings(context: Readonly<Record<string, unknown>>, key: string): string[] {
  const value = context[key];
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === "string");
}

/** All of `text` up to SCANNED_CHARS_MAX characters; past that, its first and last halves. */
function scanWindow(text: string | undefined): string {
  if (text === undefined) return "";
  if (text.length <= SCANNED_CHARS_MAX) return text;
  const headChars = Math.floor(SCANNED_CHARS_MAX / 2);
  return `${text.slice(0, headChars)}\n${text.slice(text.length - (SCANNED_CHARS_MAX - headChars - 1))}`;
}

function argumentsAsText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value);
  } catch {
    // Circular or BigInt-bearing arguments: the text scanners simply see nothing.
    return undefined;
  }
}
