/** Character sets of the regex analysis (regex-safety.ts), as the parser builds them. */

/** Sorted, disjoint, inclusive UTF-16 code unit ranges, flat: [lo0, hi0, lo1, hi1, …]. */
export type CharSet = readonly number[];

export const CODE_UNIT_MAX = 0xffff;

export const EMPTY_SET: CharSet = [];
export const ANY: CharSet = [0, CODE_UNIT_MAX];
export const DIGIT: CharSet = [0x30, 0x39];
export const WORD: CharSet = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
export const SPACE: CharSet = [
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f,
  0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff,
];
export const LINE_TERMINATORS: CharSet = [0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029];

export function union(a: CharSet, b: CharSet): CharSet {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const pairs: Array<[number, number]> = [];
  for (const set of [a, b]) {
    for (let i = 0; i < set.length; i += 2) pairs.push([set[i] as number, set[i + 1] as number]);
  }
  pairs.sort((x, y) => x[0] - y[0]);
  const merged: number[] = [];
  for (const [lo, hi] of pairs) {
    const last = merged.length - 1;
    if (last > 0 && lo <= (merged[last] as number) + 1) merged[last] = Math.max(merged[last] as number, hi);
    else merged.push(lo, hi);
  }
  return merged;
}

export function complement(set: CharSet): CharSet {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < set.length; i += 2) {
    const lo = set[i] as number;
    if (lo > next) out.push(next, lo - 1);
    next = (set[i + 1] as number) + 1;
  }
  if (next <= CODE_UNIT_MAX) out.push(next, CODE_UNIT_MAX);
  return out;
}

export function intersects(a: CharSet, b: CharSet): boolean {
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < b.length; j += 2) {
      if ((a[i] as number) <= (b[j + 1] as number) && (b[j] as number) <= (a[i + 1] as number)) return true;
    }
  }
  return false;
}

/** Adds the other case of every ASCII letter in the set, for `(?i:…)` groups. */
export function foldAsciiCase(set: CharSet): CharSet {
  let folded = set;
  for (let i = 0; i < set.length; i += 2) {
    const lo = set[i] as number;
    const hi = set[i + 1] as number;
    for (const [from, to, shift] of [
      [0x41, 0x5a, 0x20],
      [0x61, 0x7a, -0x20],
    ] as const) {
      const overlapLo = Math.max(lo, from);
      const overlapHi = Math.min(hi, to);
      if (overlapLo <= overlapHi) folded = union(folded, [overlapLo + shift, overlapHi + shift]);
    }
  }
  return folded;
}

export function single(code: number): CharSet {
  return [code, code];
}

export function shorthandClass(char: string): CharSet | undefined {
  switch (char) {
    case "d":
      return DIGIT;
    case "D":
      return complement(DIGIT);
    case "w":
      return WORD;
    case "W":
      return complement(WORD);
    case "s":
      return SPACE;
    case "S":
      return complement(SPACE);
    default:
      return undefined;
  }
}
