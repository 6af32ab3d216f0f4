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
