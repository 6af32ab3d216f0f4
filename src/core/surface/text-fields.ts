import type { GuardTexts } from "../governed-request.ts";
import { RECORD_SEPARATOR } from "../guards/text-scan.ts";

/**
 * The strings of a provider request or response that are conversation text, found by key across
 * the providers' and the AI SDK's shapes: message `content` (string or blocks), block and part
 * `text`, `system` / `instructions` / `systemInstruction`, Responses and embeddings `input`, tool
 * results (`output`, `content`), tool-call `arguments`, Gemini `contents`, and stream deltas
 * (`delta`, `partial_json`), and every string nested under those (tool-call inputs, Gemini function
 * responses), plus plain-text documents (Anthropic's, the AI SDK's inline text files) and a
 * Responses stored prompt's `variables`. Base64 payloads, URLs and ids are never touched, nor is a
 * signed reasoning part (Anthropic thinking carried by the AI SDK), which the provider refuses
 * changed, as trust() leaves Anthropic `thinking` blocks alone.
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
  // A Responses stored prompt's variables: each a value read after its name, or an input part.
  if (key === "variables" && parentKey === "prompt") return "text";
  if (parentKey === "variables" && mode === "text") return typeof parent[key] === "string" ? "free" : "text";
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
  // An AI SDK inline text file (`data: { type: "text", text }`), sent as such a document.
  if (key === "data" && parent.type === "file" && isTaggedText(parent.data)) return "text";
  // A signed reasoning part (Anthropic thinking in the AI SDK): the provider refuses it changed.
  if (key === "text" && parent.type === "reasoning" && isSigned(parent.providerOptions)) return "skip";
  // A Responses request's `text` is its output format (a schema), not text.
  if (key === "text" && parentKey === ROOT && typeof parent.text === "object") return "skip";
  if (OPAQUE_KEYS.has(key)) return "skip";
  return TEXT_KEYS.has(key) ? "text" : "inherit";
}

function isTaggedText(data: unknown): boolean {
  return typeof data === "object" && data !== null && (data as { type?: unknown }).type === "text";
}

/** Provider options that carry a signature over the part (`{ anthropic: { signature } }`). */
function isSigned(providerOptions: unknown): boolean {
  if (typeof providerOptions !== "object" || providerOptions === null) return false;
  return Object.values(providerOptions).some(
    (options) => typeof (options as { signature?: unknown } | null)?.signature === "string",
  );
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
 * A copy of `value` with every conversation text mapped; `value` itself is never modified. Only
 * what a mapped text changed is copied: every other object, and every object that is not a plain
 * object or array (an AbortSignal, a Uint8Array, a class instance), is the caller's own.
 *
 * Tool data (a tool call's arguments, a tool's JSON result) is read value by value, each value
 * after its key as a label and in quotes, as the JSON would read in a message (`password:
 * "Summer!Sunset#"`), since the key is what says that a value is a password or a phone number;
 * the label is not part of the result. A key that is not a label (an address used as a key) is
 * read as a value. A JSON field that parses is read so too (its strings decoded) and its values
 * and keys re-encoded, so the map sees what the model sees and the field stays valid JSON; one
 * that does not parse is mapped as it is. Numbers in tool data are read as their decimal text,
 * since a card number may arrive as one; a number the map changes becomes a string. The texts of
 * one piece of tool data reach the map as one text, joined by RECORD_SEPARATOR (scanners read each
 * record on its own), so a long tool result re-sent every turn is remembered by content as a whole.
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

/** How deep definitionTexts reads: a JSON schema nests a few levels, a zod schema a few per field. */
const DEFINITION_DEPTH_MAX = 64;

/**
 * Every string in tool definitions and schemas: what the injection guard reads besides the
 * conversation. A tool instance (LangChain's StructuredTool) is read as its name, description and
 * schema, not the client or callbacks it holds; a schema object (zod) as its members and its
 * description, which zod keeps outside the object.
 */
export function definitionTexts(definitions: readonly unknown[]): string[] {
  const texts: string[] = [];
  const seen = new Set<object>();
  const read = (node: unknown, depth: number): void => {
    if (typeof node === "string") texts.push(node);
    if (typeof node !== "object" || node === null || depth > DEFINITION_DEPTH_MAX || seen.has(node)) return;
    seen.add(node);
    if (Array.isArray(node) || isPlainObject(node)) {
      for (const member of Object.values(node)) read(member, depth + 1);
      return;
    }
    const { name, description, schema } = node as { name?: unknown; description?: unknown; schema?: unknown };
    if (typeof name === "string") {
      for (const member of [name, description, schema]) read(member, depth + 1);
      return;
    }
    if (typeof description === "string" && !Object.hasOwn(node, "description")) texts.push(description);
    for (const member of Object.values(node)) read(member, depth + 1);
  };
  read(definitions, 0);
  return texts;
}

/** What the guards of a call read: its conversation texts and its definitions' strings. */
export function guardTextsOf(conversation: unknown, definitions: readonly unknown[]): GuardTexts {
  return { conversation: conversationTexts(conversation), definitions: definitionTexts(definitions) };
}

/** A plain object (of any realm: an `Object.prototype` has no prototype of its own), not a class instance. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

function copy(value: unknown, map: MapText, path: string, key: string, mode: Mode): unknown {
  if (typeof value === "string") {
    if (mode === "none") return value;
    return JSON_KEYS.has(key) ? copyJsonSource(value, map, path) : map(value, path, false);
  }
  if (Array.isArray(value))
    return copyArray(value, (item, index) => copy(item, map, `${path}.${index}`, key, mode));
  if (!isPlainObject(value)) return value;
  return copyRecord(value, (member, memberKey) => {
    const reading = readingOf(value, key, memberKey, mode);
    if (reading === "skip") return member;
    const memberPath = `${path}.${memberKey}`;
    if (reading === "free")
      return mapToolData((reader) => readToolData(member, memberKey, reader), map, memberPath);
    return copy(member, map, memberPath, memberKey, modeAfter(mode, reading));
  });
}

/** `items` with each item as `copyItem` returns it: a new array only when one changed. */
function copyArray(
  items: readonly unknown[],
  copyItem: (item: unknown, index: number) => unknown,
): unknown[] {
  let out: unknown[] | undefined;
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const copied = copyItem(item, index);
    if (out === undefined) {
      if (copied === item) continue;
      out = items.slice(0, index);
    }
    out.push(copied);
  }
  return out ?? (items as unknown[]);
}

/**
 * `record` with each member (and key) as `copyMember` (`copyKey`) returns it: a new object only
 * when one changed. Members are defined, not assigned, so a `__proto__` key stays a key.
 */
function copyRecord(
  record: Record<string, unknown>,
  copyMember: (member: unknown, key: string) => unknown,
  copyKey: (key: string) => string = (key) => key,
): Record<string, unknown> {
  const keys = Object.keys(record);
  let out: Record<string, unknown> | undefined;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] as string;
    const member = record[key];
    const copiedKey = copyKey(key);
    const copied = copyMember(member, key);
    if (out === undefined) {
      if (copiedKey === key && copied === member) continue;
      out = {};
      for (const earlierKey of keys.slice(0, index)) defineMember(out, earlierKey, record[earlierKey]);
    }
    defineMember(out, copiedKey, copied);
  }
  return out ?? record;
}

function defineMember(record: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * How one piece of tool data is read: `next` takes each of its texts in order and returns it
 * mapped; `alone` maps a value without its label.
 */
interface ToolTextReader {
  next(text: string): string;
  alone(value: string): string;
}

/**
 * Maps the texts of one piece of tool data together. `read` walks the data, handing each text to
 * the reader and building the copy from what it returns; it runs once to list the texts and, when
 * the map changed one, once more to build the copy from the mapped texts.
 */
function mapToolData<T>(read: (reader: ToolTextReader) => T, map: MapText, path: string): T {
  const texts: string[] = [];
  const unchanged = read({
    next: (text) => {
      texts.push(text);
      return text;
    },
    alone: (value) => value,
  });
  const mapped = mapTogether(texts, map, path);
  if (mapped === texts) return unchanged;
  let index = 0;
  return read({
    next: (text) => {
      const at = index++;
      return text === texts[at] ? (mapped[at] as string) : map(text, path, false);
    },
    alone: (value) => map(value, path, false),
  });
}

/**
 * The texts mapped as one text joined by RECORD_SEPARATOR, or one by one when that could not be
 * split back; `texts` itself when the map changed none.
 */
function mapTogether(texts: string[], map: MapText, path: string): string[] {
  if (texts.length > 1 && !texts.some((text) => text.includes(RECORD_SEPARATOR))) {
    const joined = texts.join(RECORD_SEPARATOR);
    const mapped = map(joined, path, false);
    if (mapped === joined) return texts;
    const records = mapped.split(RECORD_SEPARATOR);
    if (records.length === texts.length) return records;
  }
  const mapped = texts.map((text) => map(text, path, false));
  return mapped.every((text, index) => text === texts[index]) ? texts : mapped;
}

/** Tool data under `key`: every string and number in it is a value, every key that is not a label too. */
function readToolData(value: unknown, key: string, reader: ToolTextReader): unknown {
  if (typeof value === "string") return readValue(value, key, true, reader);
  if (typeof value === "number") {
    const text = String(value);
    const read = readValue(text, key, false, reader);
    return read === text ? value : read;
  }
  if (Array.isArray(value)) return copyArray(value, (item) => readToolData(item, key, reader));
  if (!isPlainObject(value)) return value;
  return copyRecord(
    value,
    (member, memberKey) => readToolData(member, memberKey, reader),
    (memberKey) => (LABEL.test(memberKey) ? memberKey : reader.next(memberKey)),
  );
}

/** Keys that read as a label: a field name, not data (an address or a number used as a key). */
const LABEL = /^[A-Za-z][A-Za-z0-9_ -]{0,63}$/;
/** A string value is read in quotes, as in JSON, unless a quote or a space inside would end it early. */
const UNQUOTABLE = /[\s"]/;

/**
 * One value of tool data, read as `key: "value"` (a number as `key: 42`) and returned without the
 * label. A map that changed the label itself (a key shaped like a credential) gets the value
 * alone instead.
 */
function readValue(value: string, key: string, isString: boolean, reader: ToolTextReader): string {
  if (!LABEL.test(key)) return reader.next(value);
  const quote = isString && !UNQUOTABLE.test(value) ? '"' : "";
  const label = `${key}: ${quote}`;
  const read = reader.next(label + value + quote);
  if (read.length >= label.length + quote.length && read.startsWith(label) && read.endsWith(quote))
    return read.slice(label.length, read.length - quote.length);
  return reader.alone(value);
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
 * `source` with each string value, number and key that is not a label mapped as tool data; keys,
 * spacing and everything not mapped stay byte for byte. Source that is not JSON (cut off,
 * hand-written) is mapped as it is.
 */
function copyJsonSource(source: string, map: MapText, path: string): string {
  try {
    JSON.parse(source);
  } catch {
    return map(source, path, true);
  }
  return mapToolData((reader) => readJsonSource(source, reader), map, path);
}

function readJsonSource(source: string, reader: ToolTextReader): string {
  let out = "";
  let copied = 0;
  let key = "";
  let keyEnd = -1;
  const replace = (start: number, end: number, text: string): void => {
    out += source.slice(copied, start) + JSON.stringify(text);
    copied = end;
  };
  for (const token of source.matchAll(JSON_TOKEN)) {
    const [whole, literal, colon] = token;
    if (colon !== undefined && literal !== undefined) {
      key = decodeLiteral(literal);
      keyEnd = token.index + whole.length;
      if (LABEL.test(key)) continue;
      const read = reader.next(key);
      if (read !== key) replace(token.index, token.index + literal.length, read);
      continue;
    }
    const text = literal === undefined ? whole : decodeLiteral(literal);
    // A value right after its key is labelled by it; array items and a bare document are not.
    const read =
      keyEnd === token.index ? readValue(text, key, literal !== undefined, reader) : reader.next(text);
    if (read !== text) replace(token.index, token.index + whole.length, read);
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
