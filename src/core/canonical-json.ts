/**
 * RFC 8785 (JSON Canonicalization Scheme): object keys sorted by UTF-16 code units, no whitespace,
 * numbers in ECMAScript's shortest round-trip form, strings escaped as JSON.stringify does.
 * Audit hashes are computed over this form so any verifier in any language gets the same bytes.
 */
export function canonicalJson(value: unknown): string {
  return serialize(value, 0);
}

const DEPTH_MAX = 64;

/** A value with no canonical JSON form: a non-finite number, a lone surrogate, a function, too deep a nesting. */
export class CanonicalJsonError extends TypeError {
  override name = "CanonicalJsonError";
}

function serialize(value: unknown, depth: number): string {
  if (depth > DEPTH_MAX)
    throw new CanonicalJsonError(`canonicalJson: nesting deeper than ${DEPTH_MAX} levels`);
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return serializeString(value);
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`canonicalJson: ${value} has no JSON form`);
      return JSON.stringify(value);
    case "object":
      return Array.isArray(value) ? serializeArray(value, depth) : serializeObject(value, depth);
    default:
      throw new CanonicalJsonError(`canonicalJson: a ${typeof value} has no JSON form`);
  }
}

/** RFC 8785 §3.2.2.2 forbids unpaired surrogates; a well-formed string has none. */
export function serializeString(text: string): string {
  if (!text.isWellFormed())
    throw new CanonicalJsonError("canonicalJson: a string holds a lone UTF-16 surrogate");
  return JSON.stringify(text);
}

function serializeArray(items: readonly unknown[], depth: number): string {
  let out = "[";
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ",";
    const item = items[i];
    out += item === undefined || typeof item === "function" ? "null" : serialize(item, depth + 1);
  }
  return `${out}]`;
}

/** Serialized member names: audit events use the same few dozen keys over and over. */
const KEYS = new Map<string, string>();
const KEYS_MAX = 4096;

function serializeKey(key: string): string {
  let serialized = KEYS.get(key);
  if (serialized === undefined) {
    serialized = serializeString(key);
    if (KEYS.size < KEYS_MAX && key.length <= 64) KEYS.set(key, serialized);
  }
  return serialized;
}

function serializeObject(object: object, depth: number): string {
  if (typeof (object as { toJSON?: unknown }).toJSON === "function") {
    return serialize((object as { toJSON: () => unknown }).toJSON(), depth);
  }
  // Default sort compares UTF-16 code units, which is exactly what RFC 8785 §3.2.3 asks for.
  const keys = Object.keys(object).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const member = (object as Record<string, unknown>)[key];
    if (member === undefined || typeof member === "function") continue;
    if (!first) out += ",";
    first = false;
    out += `${serializeKey(key)}:${serialize(member, depth + 1)}`;
  }
  return `${out}}`;
}
