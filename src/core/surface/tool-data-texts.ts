import { RECORD_SEPARATOR } from "../guards/text-scan.ts";
import { copyArray, copyRecord, isPlainObject } from "./copy-on-change.ts";
import type { MapText } from "./text-fields.ts";

// Tool data (a tool call's arguments, a tool's JSON result): every value is caller data, read after
// its key as a label, and all the texts of one piece are mapped together (one memoised scan).

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
export function mapToolData<T>(read: (reader: ToolTextReader) => T, map: MapText, path: string): T {
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
export function readToolData(value: unknown, key: string, reader: ToolTextReader): unknown {
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
export function copyJsonSource(source: string, map: MapText, path: string): string {
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
