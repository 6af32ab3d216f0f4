import type { GuardTexts } from "../governed-request.ts";

/**
 * The strings of a provider request or response that are conversation text, found by key across
 * the providers' and the AI SDK's shapes: message `content` (string or blocks), block and part
 * `text`, `system` / `instructions` / `systemInstruction`, Responses and embeddings `input`, tool
 * results (`output`, `content`), tool-call `arguments`, Gemini `contents`, and stream deltas
 * (`delta`, `partial_json`), and every string nested under those (tool-call inputs, Gemini function
 * responses). Base64 payloads, URLs and ids are never touched.
 *
 * The PII guard scans exactly these strings (`conversationTexts`) and redaction rewrites exactly
 * these, so warn, block and redact judge the same text. Tool definitions and output schemas
 * (`tools`, `functions`, `response_format`, a Responses `text` format) are the application's own
 * contract with the model, not conversation: they are sent as written and only the injection guard
 * reads them (`definitionTexts`).
 */
const TEXT_KEYS = new Set([
  "content",
  "text",
  "system",
  "instructions",
  "systemInstruction",
  "input",
  "output",
  "arguments",
  "contents",
  "delta",
  "partial_json",
  "output_text",
  "refusal",
]);

/** Subtrees that hold binary payloads, identifiers, enum values or definitions, never conversation text. */
const OPAQUE_KEYS = new Set([
  "data",
  "url",
  "image_url",
  "file_data",
  "fileData",
  "inlineData",
  "signature",
  "encrypted_content",
  "id",
  "type",
  "role",
  "name",
  "tool_use_id",
  "tool_call_id",
  "call_id",
  "toolCallId",
  "toolName",
  "approvalId",
  "media_type",
  "mimeType",
  "mediaType",
  "providerOptions",
  "providerMetadata",
  "tools",
  "functions",
  "response_format",
]);

/**
 * Fields whose string is a JSON document (OpenAI tool-call `arguments`, Anthropic `partial_json`),
 * or a piece of one in a stream. Their values are tool data like an Anthropic `input`.
 */
const JSON_KEYS = new Set(["arguments", "partial_json"]);

/**
 * How a member is read: "skip" (opaque), "text" (conversation text, blocks and all: opaque keys
 * inside still hold payloads), or "free" (arguments a model or a tool made up: every string under
 * it is text, whatever its key, since a tool's `data`, `url` or `name` argument is caller data).
 */
type Reading = "skip" | "text" | "free" | "inherit";

/** Blocks and parts whose `input` is a tool call's arguments (Anthropic, AI SDK). */
const TOOL_USE_TYPES = new Set(["tool_use", "server_tool_use", "mcp_tool_use", "tool-call"]);
/** LangChain's tool calls on an AI message, whose `args` are the call's arguments. */
const LANGCHAIN_TOOL_CALL_TYPES = new Set(["tool_call", "invalid_tool_call"]);
/** AI SDK tool-result outputs whose `value` is the tool's JSON result. */
const JSON_OUTPUT_TYPES = new Set(["json", "error-json"]);

function readingOf(parent: Record<string, unknown>, parentKey: string, key: string, mode: Mode): Reading {
  if (mode === "free") return "inherit";
  // Anthropic tool_use and AI SDK tool-call `input`; Gemini functionCall `args` and functionResponse `response`.
  if (key === "input" && TOOL_USE_TYPES.has(parent.type as string)) return "free";
  if (key === "value" && parentKey === "output" && JSON_OUTPUT_TYPES.has(parent.type as string))
    return "free";
  if (key === "args" && (parentKey === "functionCall" || parentKey === "function_call")) return "free";
  // LangChain message tool calls: `{ name, args, id, type: "tool_call" }` (args a string when invalid).
  if (key === "args" && LANGCHAIN_TOOL_CALL_TYPES.has(parent.type as string)) return "free";
  if (key === "response" && (parentKey === "functionResponse" || parentKey === "function_response"))
    return "free";
  // An Anthropic plain-text document: its `data` is the text itself.
  if (key === "data" && parent.type === "text" && parent.media_type === "text/plain") return "text";
  // A Responses request's `text` is its output format (a schema), not text.
  if (key === "text" && parentKey === ROOT && typeof parent.text === "object") return "skip";
  if (OPAQUE_KEYS.has(key)) return "skip";
  return TEXT_KEYS.has(key) ? "text" : "inherit";
}

const ROOT = "";

type Mode = "none" | "text" | "free";

function modeAfter(mode: Mode, reading: Reading): Mode {
  if (reading === "free" || mode === "free") return "free";
  return reading === "text" ? "text" : mode;
}

/**
 * `inJson`: `text` is JSON source, whole or a streamed piece (a tool call's `arguments`), so text
 * put into it must be escaped as inside a JSON string.
 */
type MapText = (text: string, path: string, inJson: boolean) => string;

/**
 * A copy of `value` with every conversation text mapped; `value` itself is never modified.
 *
 * Tool data (a tool call's arguments, a tool's JSON result) is mapped value by value, each value
 * read after its key as a label (`password: hunter2x9Q`), since the key is what says that a value
 * is a password or a phone number; the label is not part of the result. A JSON field that parses
 * is mapped so too (its strings decoded) and its values re-encoded, so the map sees what the model
 * sees and the field stays valid JSON; one that does not parse is mapped as it is. Numbers in tool
 * data are mapped as their decimal text, since a card number may arrive as one; a number the map
 * changes becomes a string.
 */
export function copyWithTexts(value: unknown, map: MapText): unknown {
  return copy(value, map, ROOT, ROOT, "none");
}

/** The strings `copyWithTexts` maps, in order: what the PII guard scans. */
export function conversationTexts(value: unknown): string[] {
  const texts: string[] = [];
  copyWithTexts(value, (text) => {
    texts.push(text);
    return text;
  });
  return texts;
}

/** Every string in tool definitions and schemas: what the injection guard reads besides the conversation. */
export function definitionTexts(definitions: readonly unknown[]): string[] {
  const texts: string[] = [];
  const visitLeaves = (node: unknown): void => {
    if (typeof node === "string") texts.push(node);
    else if (Array.isArray(node)) for (const item of node) visitLeaves(item);
    else if (typeof node === "object" && node !== null)
      for (const member of Object.values(node)) visitLeaves(member);
  };
  visitLeaves(definitions);
  return texts;
}

/** What the guards of a call read: its conversation texts and its definitions' strings. */
export function guardTextsOf(conversation: unknown, definitions: readonly unknown[]): GuardTexts {
  return { conversation: conversationTexts(conversation), definitions: definitionTexts(definitions) };
}

function copy(value: unknown, map: MapText, path: string, key: string, mode: Mode): unknown {
  if (typeof value === "string") {
    if (mode === "none") return value;
    if (JSON_KEYS.has(key)) return copyJsonSource(value, map, path);
    return mode === "free" ? mapValue(value, key, map, path) : map(value, path, false);
  }
  if (typeof value === "number" && mode === "free") return copyNumber(value, key, map, path);
  if (Array.isArray(value)) return value.map((item, index) => copy(item, map, `${path}.${index}`, key, mode));
  if (typeof value !== "object" || value === null) return value;
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [memberKey, member] of Object.entries(record)) {
    const reading = readingOf(record, key, memberKey, mode);
    out[memberKey] =
      reading === "skip"
        ? member
        : copy(member, map, `${path}.${memberKey}`, memberKey, modeAfter(mode, reading));
  }
  return out;
}

function copyNumber(value: number, key: string, map: MapText, path: string): number | string {
  const text = String(value);
  const mapped = mapValue(text, key, map, path);
  return mapped === text ? value : mapped;
}

/** Keys that read as a label: a field name, not data (an address or a number used as a key). */
const LABEL = /^[A-Za-z][A-Za-z0-9_ -]{0,63}$/;

/**
 * One value of tool data, mapped as `key: value` and returned without the label. A map that
 * changed the label itself (a key shaped like a credential) gets the value alone instead.
 */
function mapValue(value: string, key: string, map: MapText, path: string): string {
  if (!LABEL.test(key)) return map(value, path, false);
  const label = `${key}: `;
  const mapped = map(label + value, path, false);
  return mapped.startsWith(label) ? mapped.slice(label.length) : map(value, path, false);
}

/**
 * A JSON string literal (group 1; group 2 set when it is an object key: the colon and spacing
 * after it), or a number. In valid JSON, a quote outside a literal opens the next one, so a scan
 * from the start finds every token.
 */
const JSON_TOKEN = /("[^"\\]*(?:\\.[^"\\]*)*")(\s*:\s*)?|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/** A JSON string literal's text; most have no escapes, and those need no parser. */
function decodeLiteral(literal: string): string {
  return literal.includes("\\") ? (JSON.parse(literal) as string) : literal.slice(1, -1);
}

/**
 * `source` with each string value and number mapped; keys, spacing and everything not mapped stay
 * byte for byte. Source that is not JSON (cut off, hand-written) is mapped as it is.
 */
function copyJsonSource(source: string, map: MapText, path: string): string {
  try {
    JSON.parse(source);
  } catch {
    return map(source, path, true);
  }
  let out = "";
  let copied = 0;
  let key = "";
  let keyEnd = -1;
  JSON_TOKEN.lastIndex = 0;
  for (let token = JSON_TOKEN.exec(source); token !== null; token = JSON_TOKEN.exec(source)) {
    const [whole, literal, colon] = token;
    if (colon !== undefined && literal !== undefined) {
      key = decodeLiteral(literal);
      keyEnd = token.index + whole.length;
      continue;
    }
    const text = literal === undefined ? whole : decodeLiteral(literal);
    // A value right after its key is labelled by it; array items and a bare document are not.
    const mapped = keyEnd === token.index ? mapValue(text, key, map, path) : map(text, path, false);
    if (mapped === text) continue;
    out += source.slice(copied, token.index) + JSON.stringify(mapped);
    copied = token.index + whole.length;
  }
  return copied === 0 ? source : out + source.slice(copied);
}

/**
 * Maps every conversation text of `value` in place (a response object the SDK built for this
 * call, whose class must be kept). Returns `value`.
 */
export function mapTextsInPlace<T>(value: T, map: MapText): T {
  visit(value, map, ROOT, ROOT, "none", new Set());
  return value;
}

function visit(value: unknown, map: MapText, path: string, key: string, mode: Mode, seen: Set<object>): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  const record = value as Record<string | number, unknown>;
  const array = Array.isArray(value);
  const keys: Array<string | number> = array ? value.map((_, index) => index) : Object.keys(value);
  for (const memberKey of keys) {
    // Array items are read as their array is (an item has no key of its own).
    const reading = array ? "inherit" : readingOf(record, key, memberKey as string, mode);
    if (reading === "skip") continue;
    const member = record[memberKey];
    const memberPath = `${path}.${memberKey}`;
    const memberMode = modeAfter(mode, reading);
    if (typeof member === "string") {
      if (memberMode === "none") continue;
      const itemKey = array ? key : (memberKey as string);
      const mapped = map(member, memberPath, holdsJson(record, itemKey));
      if (mapped !== member) record[memberKey] = mapped;
    } else {
      visit(member, map, memberPath, array ? key : (memberKey as string), memberMode, seen);
    }
  }
}

/** A JSON field, or a Responses stream event that carries a piece of one (`response.function_call_arguments.delta`). */
function holdsJson(record: Record<string | number, unknown>, key: string): boolean {
  if (JSON_KEYS.has(key)) return true;
  return key === "delta" && typeof record.type === "string" && record.type.endsWith("_arguments.delta");
}
