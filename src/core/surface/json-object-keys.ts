/** One key of a JSON object as it stands in the source: `source.slice(start, end)` is its string literal, quotes included. */
export interface JsonKeySpan {
  readonly start: number;
  readonly end: number;
}

/**
 * The keys of every object in JSON `source`, one list per object in the order its keys are
 * written, found by one pass over the text (no recursion: depth is bounded by the source only).
 * `source` must be JSON that parses; what this returns for other text is unspecified.
 */
export function objectKeySpans(source: string): JsonKeySpan[][] {
  const objects: JsonKeySpan[][] = [];
  // An open object's keys, or null for an open array.
  const open: Array<JsonKeySpan[] | null> = [];
  for (let at = 0; at < source.length; at++) {
    const char = source[at];
    if (char === "{") open.push([]);
    else if (char === "[") open.push(null);
    else if (char === "}" || char === "]") {
      const closed = open.pop();
      if (closed !== null && closed !== undefined) objects.push(closed);
    } else if (char === '"') {
      const end = stringEnd(source, at);
      const keys = open.at(-1);
      if (keys !== null && keys !== undefined && source[nextNonSpace(source, end)] === ":") {
        keys.push({ start: at, end });
      }
      at = end - 1;
    }
  }
  return objects;
}

/** Just past the closing quote of the string literal that opens at `start`. */
function stringEnd(source: string, start: number): number {
  let at = start + 1;
  while (at < source.length && source[at] !== '"') at += source[at] === "\\" ? 2 : 1;
  return at + 1;
}

function nextNonSpace(source: string, from: number): number {
  let at = from;
  while (at < source.length && JSON_SPACE.has(source[at] as string)) at++;
  return at;
}

const JSON_SPACE: ReadonlySet<string> = new Set([" ", "\t", "\n", "\r"]);
