/**
 * The strings of a provider request or response that are conversation text, found by key across
 * all three providers' shapes: message `content` (string or blocks), block and part `text`,
 * `system` / `instructions` / `systemInstruction`, Responses and embeddings `input`, tool results
 * (`output`, `content`), tool-call `arguments`, Gemini `contents`, and stream deltas (`delta`,
 * `partial_json`), and every string nested under those (tool-call inputs, Gemini function
 * responses). Base64 payloads, URLs and ids are never touched.
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

/** Subtrees that hold binary payloads, identifiers or enum values, never conversation text. */
const OPAQUE_KEYS = new Set([
  "data",
  "url",
  "image_url",
  "file_data",
  "fileData",
  "inlineData",
  "signature",
  "id",
  "type",
  "role",
  "name",
  "tool_use_id",
  "tool_call_id",
  "media_type",
  "mimeType",
]);

/**
 * How a member is read: "skip" (opaque), "text" (conversation text, blocks and all: opaque keys
 * inside still hold payloads), or "free" (arguments a model or a tool made up: every string under
 * it is text, whatever its key, since a tool's `data`, `url` or `name` argument is caller data).
 */
type Reading = "skip" | "text" | "free" | "inherit";

const TOOL_USE_TYPES = new Set(["tool_use", "server_tool_use", "mcp_tool_use"]);

function readingOf(parent: Record<string, unknown>, parentKey: string, key: string, mode: Mode): Reading {
  if (mode === "free") return "inherit";
  // Anthropic tool_use `input`; Gemini functionCall `args` and functionResponse `response`.
  if (key === "input" && TOOL_USE_TYPES.has(parent.type as string)) return "free";
  if (key === "args" && (parentKey === "functionCall" || parentKey === "function_call")) return "free";
  if (key === "response" && (parentKey === "functionResponse" || parentKey === "function_response"))
    return "free";
  // An Anthropic plain-text document: its `data` is the text itself.
  if (key === "data" && parent.type === "text" && parent.media_type === "text/plain") return "text";
  if (OPAQUE_KEYS.has(key)) return "skip";
  return TEXT_KEYS.has(key) ? "text" : "inherit";
}

type Mode = "none" | "text" | "free";

function modeAfter(mode: Mode, reading: Reading): Mode {
  if (reading === "free" || mode === "free") return "free";
  return reading === "text" ? "text" : mode;
}

type MapText = (text: string, path: string) => string;

/** A copy of `value` with every conversation text mapped; `value` itself is never modified. */
export function copyWithTexts(value: unknown, map: MapText): unknown {
  return copy(value, map, "", "", "none");
}

function copy(value: unknown, map: MapText, path: string, key: string, mode: Mode): unknown {
  if (typeof value === "string") return mode === "none" ? value : map(value, path);
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

/**
 * Maps every conversation text of `value` in place (a response object the SDK built for this
 * call, whose class must be kept). Returns `value`.
 */
export function mapTextsInPlace<T>(value: T, map: MapText): T {
  visit(value, map, "", "", "none", new Set());
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
      const mapped = map(member, memberPath);
      if (mapped !== member) record[memberKey] = mapped;
    } else {
      visit(member, map, memberPath, array ? key : (memberKey as string), memberMode, seen);
    }
  }
}
