import type { GuardTexts } from "../governed-request.ts";
import { copyArray, copyRecord, isPlainObject } from "./copy-on-change.ts";
import { copyJsonSource, mapToolData, readToolData } from "./tool-data-texts.ts";

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
export type MapText = (text: string, path: string, inJson: boolean) => string;

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
  return new GuardTextsOnDemand(conversation, definitions);
}

/**
 * Each list is read from the request when a guard first asks for it, then kept: with `pii` and
 * `injection` both off nothing is walked, and the PII guard alone never reads the definitions. A
 * request reader runs on every call, so the walk must not be paid by calls no guard reads. A class,
 * not an object literal with getters: V8 builds those slowly, on every call.
 */
class GuardTextsOnDemand implements GuardTexts {
  readonly #conversationSource: unknown;
  readonly #definitionSources: readonly unknown[];
  #conversation: readonly string[] | undefined;
  #definitions: readonly string[] | undefined;

  constructor(conversation: unknown, definitions: readonly unknown[]) {
    this.#conversationSource = conversation;
    this.#definitionSources = definitions;
  }

  get conversation(): readonly string[] {
    this.#conversation ??= conversationTexts(this.#conversationSource);
    return this.#conversation;
  }

  get definitions(): readonly string[] {
    this.#definitions ??= definitionTexts(this.#definitionSources);
    return this.#definitions;
  }
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

/** Maps one key of tool data (see mapTextsInPlace). */
export type MapKey = (key: string) => string;

/**
 * Maps every conversation text of `value` in place (a response object the SDK built for this
 * call, whose class must be kept). Returns `value`. With `mapKey`, the keys of tool data given as
 * objects (Anthropic `tool_use.input`, Gemini `functionCall.args`, LangChain `tool_calls[].args`)
 * are mapped too, in place and in their order (see renameKeys).
 */
export function mapTextsInPlace<T>(value: T, map: MapText, mapKey?: MapKey): T {
  visit(value, { map, mapKey }, ROOT, ROOT, "none", new Set());
  return value;
}

/** Maps every string of tool data given as a value of its own (parsed JSON arguments) in place, and its keys. */
export function mapToolDataInPlace<T>(value: T, map: MapText, mapKey: MapKey): T {
  visit(value, { map, mapKey }, ROOT, ROOT, "free", new Set());
  return value;
}

interface Maps {
  readonly map: MapText;
  readonly mapKey: MapKey | undefined;
}

function visit(value: unknown, maps: Maps, path: string, key: string, mode: Mode, seen: Set<object>): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  if (mode === "free" && maps.mapKey !== undefined && isPlainObject(value)) renameKeys(value, maps.mapKey);
  const { map } = maps;
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
      visit(member, maps, memberPath, array ? key : (memberKey as string), memberMode, seen);
    }
  }
}

/**
 * Renames the keys of `record` in place as `mapKey` maps them, keeping their order (every member
 * is defined again in order; integer keys still come first, as JavaScript lists them). A key whose
 * new name is a key the object already has, or the new name of another key too, keeps its name,
 * so no member is ever overwritten: `{ "[EMAIL_1]": "admin", "jane@example.com": "viewer" }` stays
 * as it is. An object whose members cannot be defined again (frozen, sealed) is left alone.
 */
function renameKeys(record: Record<string, unknown>, mapKey: MapKey): void {
  const keys = Object.keys(record);
  const names = keys.map((key) => mapKey(key));
  if (names.every((name, index) => name === keys[index]) || !canRedefine(record, keys)) return;
  const taken = new Set(keys);
  const claims = new Map<string, number>();
  for (const name of names) claims.set(name, (claims.get(name) ?? 0) + 1);
  const members = keys.map((key) => record[key]);
  for (const key of keys) delete record[key];
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] as string;
    const name = names[index] as string;
    const safe = name !== key && !taken.has(name) && claims.get(name) === 1;
    Object.defineProperty(record, safe ? name : key, {
      value: members[index],
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
}

function canRedefine(record: object, keys: readonly string[]): boolean {
  return (
    Object.isExtensible(record) &&
    keys.every((key) => Object.getOwnPropertyDescriptor(record, key)?.configurable === true)
  );
}

/** A JSON field, or a Responses stream event that carries a piece of one (`response.function_call_arguments.delta`). */
function holdsJson(record: Record<string | number, unknown>, key: string): boolean {
  if (JSON_KEYS.has(key)) return true;
  return key === "delta" && typeof record.type === "string" && record.type.endsWith("_arguments.delta");
}
