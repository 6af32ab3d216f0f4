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

type MapText = (text: string, path: string) => string;

/** A copy of `value` with every conversation text mapped; `value` itself is never modified. */
export function copyWithTexts(value: unknown, map: MapText): unknown {
  return copy(value, map, "", false);
}

function copy(value: unknown, map: MapText, path: string, isText: boolean): unknown {
  if (typeof value === "string") return isText ? map(value, path) : value;
  if (Array.isArray(value)) return value.map((item, index) => copy(item, map, `${path}.${index}`, isText));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    out[key] = OPAQUE_KEYS.has(key)
      ? member
      : copy(member, map, `${path}.${key}`, isText || TEXT_KEYS.has(key));
  }
  return out;
}

/**
 * Maps every conversation text of `value` in place (a response object the SDK built for this
 * call, whose class must be kept). Returns `value`.
 */
export function mapTextsInPlace<T>(value: T, map: MapText): T {
  visit(value, map, "", false, new Set());
  return value;
}

function visit(value: unknown, map: MapText, path: string, isText: boolean, seen: Set<object>): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  const record = value as Record<string | number, unknown>;
  const keys: Array<string | number> = Array.isArray(value)
    ? value.map((_, index) => index)
    : Object.keys(value);
  for (const key of keys) {
    if (typeof key === "string" && OPAQUE_KEYS.has(key)) continue;
    const member = record[key];
    const memberPath = `${path}.${key}`;
    const memberIsText = isText || (typeof key === "string" && TEXT_KEYS.has(key));
    if (typeof member === "string") {
      if (!memberIsText) continue;
      const mapped = map(member, memberPath);
      if (mapped !== member) record[key] = mapped;
    } else {
      visit(member, map, memberPath, memberIsText, seen);
    }
  }
}
