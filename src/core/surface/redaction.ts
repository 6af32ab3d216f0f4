import { UsertrustError } from "../errors.ts";
import type { Redactor } from "../guards/redactor.ts";
import type { Hold } from "../hold.ts";
import { type JsonKeySpan, objectKeySpans } from "./json-object-keys.ts";
import { copyWithTexts, type MapText, mapTextsInPlace } from "./text-fields.ts";

/**
 * PII redaction for one call (`pii: "redact"`): the request is sent as a copy whose conversation
 * texts carry typed placeholders (the caller's object is never touched); with `restore`, the
 * values are put back into the texts the caller receives.
 */
export interface CallRedaction {
  /** The body to send. */
  readonly sent: unknown;
  /** Puts values back into a whole response, in place; undefined when restore is off. */
  readonly restoreResponse: ((response: unknown) => void) | undefined;
  /** A restorer for one stream's chunks, in place; undefined when restore is off. */
  readonly chunkRestorer: (() => ChunkRestorer) | undefined;
}

export function redactCall(body: unknown, redactor: Redactor, restore: boolean): CallRedaction {
  // Reserve every literal placeholder first, so a later text's "[EMAIL_1]" is never reused.
  copyWithTexts(body, (text) => {
    redactor.reserve(text);
    return text;
  });
  const sent = copyWithTexts(body, (text) => redactor.redact(text));
  if (!restore) return { sent, restoreResponse: undefined, chunkRestorer: undefined };
  return {
    sent,
    restoreResponse: (response) => restoreTexts(response, redactor),
    chunkRestorer: () => streamRestorer(redactor),
  };
}

/**
 * Placeholders are numbered per call: every call starts again at [EMAIL_1]. A conversation the
 * provider keeps (a Responses `previous_response_id` or `conversation`, an Anthropic message
 * thread) already holds the placeholders of earlier calls, so a later call would give [EMAIL_1] to
 * another value, and restore would hand back the wrong one. Such a call, when it has personal data
 * to redact, is refused with this error before anything is sent.
 */
function serverHeldContextError(): UsertrustError {
  return new UsertrustError(
    "PII_REDACT_SERVER_CONTEXT",
    "pii redact cannot protect this call: it continues a conversation the provider keeps " +
      "(previous_response_id, conversation, or a message thread), whose earlier turns already use " +
      "placeholders numbered by other calls, so one placeholder could stand for two different values. " +
      'Send the whole conversation yourself on each call, or set pii to "warn" or "block" for these calls.',
  );
}

/**
 * Refuses a call with personal data to redact that continues a conversation the provider keeps
 * (see serverHeldContextError), before anything is sent; its hold is released. A call with nothing
 * to redact goes ahead.
 */
export async function refuseServerHeldRedaction(hold: Hold): Promise<void> {
  if (hold.terms.redaction === undefined) return;
  const error = serverHeldContextError();
  await hold.void(error.message, "hold_voided").catch(() => {});
  throw error;
}

/**
 * Puts the redactor's values back into every conversation text of `value`, in place, and into the
 * keys of tool data given as objects; a restored key that would overwrite another member stays a
 * placeholder (see mapTextsInPlace).
 */
export function restoreTexts(value: unknown, redactor: Redactor): void {
  mapTextsInPlace(
    value,
    (text, _path, inJson) => (inJson ? restoreJsonSource(text, redactor) : redactor.restore(text)),
    (key) => redactor.restore(key),
  );
}

/**
 * A whole JSON document (a tool call's `arguments`) with the values put back where they stand, so
 * it keeps every other byte the model wrote (spacing, numbers past 2^53). When that would write a
 * key twice in one object (a placeholder key restored to a key the object already has, and
 * JSON.parse keeps only the later member), that key stays a placeholder, as in tool data given as
 * an object (see mapTextsInPlace). Source that is not JSON is restored as it is.
 */
function restoreJsonSource(source: string, redactor: Redactor): string {
  const restored = redactor.restore(source, "json-string");
  if (restored === source) return restored;
  let merged: boolean;
  try {
    merged = keyCount(JSON.parse(restored)) !== keyCount(JSON.parse(source));
  } catch {
    return restored;
  }
  if (!merged) return restored;
  let result = "";
  let copied = 0;
  for (const kept of collidingKeys(source, redactor)) {
    result += redactor.restore(source.slice(copied, kept.start), "json-string");
    result += source.slice(kept.start, kept.end);
    copied = kept.end;
  }
  return result + redactor.restore(source.slice(copied), "json-string");
}

/**
 * The keys of `source` that restoring would make collide, in source order: a key whose restored
 * name is a key its object already has, or the restored name of another of its keys too.
 */
function collidingKeys(source: string, redactor: Redactor): JsonKeySpan[] {
  const colliding: JsonKeySpan[] = [];
  for (const keys of objectKeySpans(source)) {
    const literals = keys.map((key) => source.slice(key.start, key.end));
    const names = literals.map((literal) => JSON.parse(literal) as string);
    const restoredNames = literals.map(
      (literal) => JSON.parse(redactor.restore(literal, "json-string")) as string,
    );
    const taken = new Set(names);
    const claims = new Map<string, number>();
    for (const name of restoredNames) claims.set(name, (claims.get(name) ?? 0) + 1);
    keys.forEach((key, index) => {
      const name = names[index] as string;
      const restoredName = restoredNames[index] as string;
      if (restoredName === name) return;
      if (taken.has(restoredName) || claims.get(restoredName) !== 1) colliding.push(key);
    });
  }
  return colliding.sort((a, b) => a.start - b.start);
}

/** Keys in a parsed JSON document, all levels: restoring merges two keys exactly when it drops one. */
function keyCount(document: unknown): number {
  let count = 0;
  const stack: unknown[] = [document];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (typeof node !== "object" || node === null) continue;
    const members = Object.values(node);
    if (!Array.isArray(node)) count += members.length;
    for (const member of members) stack.push(member);
  }
  return count;
}

/** How a restored value is written: values restored into JSON source (tool-call arguments) are escaped, so it still parses. */
export type RestoreWithin = "text" | "json-string";

export function withinOf(inJson: boolean): RestoreWithin {
  return inJson ? "json-string" : "text";
}

/** What a stream's consumer must not see yet, and how to finish: see `meterStream`'s restore control. */
export interface ChunkRestorer {
  /** Restores a chunk in place. */
  chunk(chunk: unknown): void;
  /** Some text is held back because it may be the start of a placeholder split across chunks. */
  pending(): boolean;
  /** At the end of the stream: appends held-back text to the last chunk that carried its position. */
  finish(): void;
}

/**
 * Restores texts that arrive in pieces (stream deltas), each text at its own position (one choice's
 * content, one tool call's arguments): a tail that may be the start of a placeholder split across
 * pieces ("[EMA") is held back and joined with the next piece at that position. At the end, a tail
 * still held (a reply cut off mid-placeholder) is handed back to the last piece of its position,
 * so a stream delivers the same text as a whole response.
 */
export interface PieceRestorer {
  /**
   * The restored part of `text`, the next piece at `position`, that is safe to deliver now.
   * `append` puts a tail still held when the stream ends back where this piece was delivered.
   */
  piece(position: string, text: string, within: RestoreWithin, append: (tail: string) => void): string;
  /** Some text is held back at some position. */
  pending(): boolean;
  /** At the end of the stream: hands every tail still held to its position's last `append`. */
  finish(): void;
}

/** The longest placeholder: "[" + the longest label (11) + "_" + 9 digits + "]". */
const PLACEHOLDER_CHARS_MAX = 24;
const PLACEHOLDER_START = /^\[[A-Z0-9_]*$/;

export function pieceRestorer(redactor: Redactor): PieceRestorer {
  const positions = new Map<string, { tail: string; append: (tail: string) => void }>();
  return {
    piece(position, text, within, append) {
      const joined = (positions.get(position)?.tail ?? "") + text;
      const start = joined.lastIndexOf("[");
      const tail =
        start >= 0 &&
        joined.length - start <= PLACEHOLDER_CHARS_MAX &&
        PLACEHOLDER_START.test(joined.slice(start))
          ? joined.slice(start)
          : "";
      positions.set(position, { tail, append });
      return redactor.restore(joined.slice(0, joined.length - tail.length), within);
    },
    pending() {
      for (const state of positions.values()) if (state.tail !== "") return true;
      return false;
    },
    finish() {
      for (const state of positions.values()) {
        if (state.tail === "") continue;
        state.append(state.tail);
        state.tail = "";
      }
    },
  };
}

/**
 * Where the text at `path` of `chunk` continues from one chunk to the next: the path, with each
 * array position replaced by the `index` its element names. Streams address a choice, a tool call
 * or a content block by that field, not by where it sits in the chunk: every OpenAI chat chunk
 * carries its one choice at `choices[0]`, whichever choice it is.
 */
export function piecePosition(chunk: unknown, path: string): string {
  let node: unknown = chunk;
  let position = "";
  for (const key of path.split(".").slice(1)) {
    node = typeof node === "object" && node !== null ? (node as Record<string, unknown>)[key] : undefined;
    const index = (node as { index?: unknown } | null | undefined)?.index;
    const named = /^\d+$/.test(key) && (typeof index === "number" || typeof index === "string");
    position += named ? `.#${String(index)}` : `.${key}`;
  }
  return position;
}

/**
 * Deltas (OpenAI `delta.content` and tool-call `arguments`, Responses `delta`, Anthropic
 * `delta.text` and `partial_json`, Gemini candidate parts) are restored as pieces per position
 * (see PieceRestorer); whole texts in a chunk (a Responses `response.completed` snapshot) are
 * restored at once.
 */
function streamRestorer(redactor: Redactor): ChunkRestorer {
  const pieces = pieceRestorer(redactor);
  return {
    chunk(chunk) {
      const index =
        (chunk as { index?: unknown; output_index?: unknown; content_index?: unknown } | null) ?? {};
      const event = `${String(index.index ?? "")}:${String(index.output_index ?? "")}:${String(index.content_index ?? "")}`;
      const restorePiece: MapText = (text, path, inJson) => {
        const within = withinOf(inJson);
        if (!path.includes("delta") && !path.startsWith(".candidates")) return redactor.restore(text, within);
        return pieces.piece(`${event}${piecePosition(chunk, path)}`, text, within, (tail) => {
          mapTextsInPlace(chunk, (current, at) => (at === path ? current + tail : current));
        });
      };
      // A key of tool data given as an object (a Gemini functionCall's args) arrives whole.
      mapTextsInPlace(chunk, restorePiece, (key) => redactor.restore(key));
    },
    pending: () => pieces.pending(),
    finish: () => pieces.finish(),
  };
}
