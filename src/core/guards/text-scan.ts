import type { PiiFinding } from "./pii-detector.ts";

/** One detector: appends what it finds in `text` to `found`, in any order, overlaps allowed. */
export type Detector = (text: string, found: PiiFinding[]) => void;

/**
 * Visits every match of a global regex. Detector regexes are module-level and reused, so the
 * position is reset first; scanning is synchronous, so no other scan can interleave.
 */
export function eachMatch(pattern: RegExp, text: string, visit: (match: RegExpExecArray) => void): void {
  pattern.lastIndex = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) visit(match);
}

/**
 * Separates the texts of one piece of tool data (each value after its key) joined into one text,
 * so that a long tool result re-sent every turn is remembered by content as a whole (see
 * content-memo.ts). Scanners read each record of such a text on its own: no finding crosses one.
 */
export const RECORD_SEPARATOR = "\u001e";

/** A scanner that reads each record of a text (see RECORD_SEPARATOR) on its own, findings in text offsets. */
export function eachRecord<T extends { start: number; end: number }>(
  scan: (text: string) => T[],
): (text: string) => T[] {
  return (text) => {
    if (!text.includes(RECORD_SEPARATOR)) return scan(text);
    const found: T[] = [];
    let offset = 0;
    for (const record of text.split(RECORD_SEPARATOR)) {
      for (const finding of scan(record)) {
        finding.start += offset;
        finding.end += offset;
        found.push(finding);
      }
      offset += record.length + RECORD_SEPARATOR.length;
    }
    return found;
  };
}

/** ASCII letter or digit; false for NaN, so it is safe one past either end of a string. */
export function isAlphanumericCode(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** `\w` in a regex without the `u` flag: ASCII letters, digits and "_". */
export function isWordCode(code: number): boolean {
  return isAlphanumericCode(code) || code === 95;
}

/**
 * Whether the `contextChars` characters before `index` end with `label` (a regex anchored with `$`).
 * Lets a detector look for a rare value first and check its label only when one is found, which is
 * much cheaper than a regex that tries every position for the label.
 */
export function labelBefore(text: string, index: number, label: RegExp, contextChars: number): boolean {
  return label.test(text.slice(Math.max(0, index - contextChars), index));
}
