import type { Redactor } from "../guards/redactor.ts";
import { copyWithTexts, mapTextsInPlace } from "./text-fields.ts";

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
    restoreResponse: (response) => {
      mapTextsInPlace(response, (text, _path, inJson) => redactor.restore(text, withinOf(inJson)));
    },
    chunkRestorer: () => streamRestorer(redactor),
  };
}

/** Values restored into JSON source (tool-call arguments) are escaped, so the arguments still parse. */
function withinOf(inJson: boolean): "text" | "json-string" {
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

/** The longest placeholder: "[" + the longest label (11) + "_" + 9 digits + "]". */
const PLACEHOLDER_CHARS_MAX = 24;
const PLACEHOLDER_START = /^\[[A-Z0-9_]*$/;

/**
 * Deltas (OpenAI `delta.content`, Responses `delta`, Anthropic `delta.text`, Gemini candidate
 * parts) are restored per text position: a tail that may be the start of a placeholder split
 * across chunks ("[EMA") is held back and joined with the next delta at that position. Whole texts
 * in a chunk (a Responses `response.completed` snapshot) are restored at once. At the end, a tail
 * still held (a reply cut off mid-placeholder) is appended to the last chunk of its position, so a
 * stream delivers the same text as a whole response.
 */
function streamRestorer(redactor: Redactor): ChunkRestorer {
  const positions = new Map<string, { tail: string; chunk: unknown; path: string }>();
  return {
    chunk(chunk) {
      const index =
        (chunk as { index?: unknown; output_index?: unknown; content_index?: unknown } | null) ?? {};
      const position = `${String(index.index ?? "")}:${String(index.output_index ?? "")}:${String(index.content_index ?? "")}`;
      mapTextsInPlace(chunk, (text, path, inJson) => {
        const within = withinOf(inJson);
        if (!path.includes("delta") && !path.startsWith(".candidates")) return redactor.restore(text, within);
        const key = `${position}${path}`;
        const state = positions.get(key) ?? { tail: "", chunk, path };
        const joined = state.tail + text;
        const start = joined.lastIndexOf("[");
        const tail =
          start >= 0 &&
          joined.length - start <= PLACEHOLDER_CHARS_MAX &&
          PLACEHOLDER_START.test(joined.slice(start))
            ? joined.slice(start)
            : "";
        positions.set(key, { tail, chunk, path });
        return redactor.restore(joined.slice(0, joined.length - tail.length), within);
      });
    },
    pending() {
      for (const state of positions.values()) if (state.tail !== "") return true;
      return false;
    },
    finish() {
      for (const state of positions.values()) {
        if (state.tail === "") continue;
        const { tail, path } = state;
        mapTextsInPlace(state.chunk, (text, at) => (at === path ? text + tail : text));
        state.tail = "";
      }
    },
  };
}
