import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";

// Where in a config file's text a problem is: the line of a field (by its path), and the line and
// column where a file stops being JSON.

/**
 * Line (1-based) where a JSON path's key sits, found through a YAML parse (YAML 1.2 is a superset
 * of JSON). A required field that is missing has no line, so its nearest written parent's is given.
 */
export function lineOfPath(text: string, path: readonly string[]): number | undefined {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  for (let depth = path.length; depth > 0; depth--) {
    const offset = offsetOfKey(document, path.slice(0, depth));
    if (offset !== undefined) return lineCounter.linePos(offset).line;
  }
  // A missing top-level field belongs to the whole object: the line it opens on.
  const root = document.contents?.range?.[0];
  return root === undefined ? undefined : lineCounter.linePos(root).line;
}

/** Where the key at `path` starts. JSON.parse keeps the last of duplicated keys, so at every level this does too. */
function offsetOfKey(document: Document, path: readonly string[]): number | undefined {
  let node: unknown = document.contents;
  let offset: number | undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.findLast((item) => isScalar(item.key) && String(item.key.value) === key);
      if (pair === undefined || !isScalar(pair.key)) return undefined;
      offset = pair.key.range?.[0];
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(key)];
      if (!(isScalar(item) || isMap(item) || isSeq(item))) return undefined;
      offset = item.range?.[0];
      node = item;
    } else {
      return undefined;
    }
  }
  return offset;
}

/**
 * Where JSON.parse stopped, found by a scan of our own: V8's messages carry a position for only
 * some errors (`Unexpected token 'p', …` has none), and their wording is not an interface.
 */
export function jsonErrorPosition(text: string): { line: number; column: number } {
  const offset = firstJsonErrorOffset(text);
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  return { line: text.slice(0, offset).split("\n").length, column: offset - lineStart + 1 };
}

/** What the JSON grammar allows next; `…OrClose` also allows the innermost open container's end. */
type JsonExpected = "value" | "valueOrClose" | "key" | "keyOrClose" | "colon" | "commaOrClose" | "end";

const JSON_SPACE = /[ \t\n\r]*/y;
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON strings may not hold raw control characters, so the scan stops at one.
const JSON_STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const JSON_SCALAR = new RegExp(
  `${JSON_STRING.source}|-?(?:0|[1-9]\\d*)(?:\\.\\d+)?(?:[eE][+-]?\\d+)?|true|false|null`,
  "y",
);

/**
 * Offset of the first character the JSON grammar does not allow where it stands, or the text's
 * length when the text ends early. A loop with an explicit stack, not recursion: nesting is the
 * user's. Every step consumes at least one character, so it ends.
 */
function firstJsonErrorOffset(text: string): number {
  const closers: string[] = [];
  let expected: JsonExpected = "value";
  let offset = matchEnd(JSON_SPACE, text, 0) ?? 0;
  while (offset < text.length) {
    const next = jsonToken(text, offset, expected, closers);
    if (next === undefined) return offset;
    expected = next.expected;
    offset = matchEnd(JSON_SPACE, text, next.offset) ?? next.offset;
  }
  return text.length;
}

/** The token at `offset` when the grammar allows it: where it ends and what may follow it. */
function jsonToken(
  text: string,
  offset: number,
  expected: JsonExpected,
  closers: string[],
): { offset: number; expected: JsonExpected } | undefined {
  const char = text[offset];
  const afterValue = (end: number) => ({
    offset: end,
    expected: (closers.length === 0 ? "end" : "commaOrClose") as JsonExpected,
  });
  if (expected.endsWith("OrClose") && char === closers[closers.length - 1]) {
    closers.pop();
    return afterValue(offset + 1);
  }
  if (expected === "value" || expected === "valueOrClose") {
    if (char === "{" || char === "[") {
      closers.push(char === "{" ? "}" : "]");
      return { offset: offset + 1, expected: char === "{" ? "keyOrClose" : "valueOrClose" };
    }
    const end = matchEnd(JSON_SCALAR, text, offset);
    return end === undefined ? undefined : afterValue(end);
  }
  if (expected === "key" || expected === "keyOrClose") {
    const end = matchEnd(JSON_STRING, text, offset);
    return end === undefined ? undefined : { offset: end, expected: "colon" };
  }
  if (expected === "colon" && char === ":") return { offset: offset + 1, expected: "value" };
  if (expected === "commaOrClose" && char === ",") {
    return { offset: offset + 1, expected: closers[closers.length - 1] === "}" ? "key" : "value" };
  }
  return undefined;
}

/** Where a sticky pattern's match at `offset` ends, if it matches there. */
function matchEnd(pattern: RegExp, text: string, offset: number): number | undefined {
  pattern.lastIndex = offset;
  return pattern.test(text) ? pattern.lastIndex : undefined;
}
