import type { Redactor, StreamRestorer } from "../core/guards/redactor.ts";
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
  readonly chunkRestorer: (() => (chunk: unknown) => void) | undefined;
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
      mapTextsInPlace(response, (text) => redactor.restore(text));
    },
    chunkRestorer: () => streamRestorer(redactor),
  };
}

/**
 * Deltas (OpenAI `delta.content`, Responses `delta`, Anthropic `delta.text`, Gemini candidate
 * parts) go through one streaming restorer per text position, since a placeholder may arrive
 * split across chunks; a possible placeholder tail is held back until the next delta. Whole texts
 * in a chunk (a Responses `response.completed` snapshot) are restored at once. A tail still held
 * when the stream ends was never a whole placeholder and is dropped with it.
 */
function streamRestorer(redactor: Redactor): (chunk: unknown) => void {
  const restorers = new Map<string, StreamRestorer>();
  return (chunk) => {
    const index =
      (chunk as { index?: unknown; output_index?: unknown; content_index?: unknown } | null) ?? {};
    const position = `${String(index.index ?? "")}:${String(index.output_index ?? "")}:${String(index.content_index ?? "")}`;
    mapTextsInPlace(chunk, (text, path) => {
      if (!path.includes("delta") && !path.startsWith(".candidates")) return redactor.restore(text);
      const key = `${position}${path}`;
      let restorer = restorers.get(key);
      if (restorer === undefined) {
        restorer = redactor.restoreStream();
        restorers.set(key, restorer);
      }
      return restorer(text);
    });
  };
}
