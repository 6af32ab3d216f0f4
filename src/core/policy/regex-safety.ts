/**
 * A static check that refuses regular expressions JavaScript's backtracking engine could take
 * exponential time on ("catastrophic backtracking", ReDoS). Policy regexes run on every governed
 * call, on values that come from requests, so one bad pattern must not be able to hang the process.
 *
 * What it refuses: a part repeated more than once (`*`, `+`, `{n,}`, or `{n,m}` with m > 1) whose
 * body can match the same text in more than one way, unless the total number of ways is small
 * and bounded (at most CHOICES_MAX, e.g. `(\d{1,3}\.){3}` is fine). A body matches text in more
 * than one way when it holds
 * - a part of variable length: another quantifier (`(a+)+`, `(a*)*`, `(.*a){20}`, `(a?){30}`,
 *   `(\w+\s?)+`) or a backreference;
 * - alternatives that can start with the same character (`(a|a)*`, `(a|ab)+`, `(\w|\d)+`, `(.|\s)*`).
 *
 * It is conservative: some safe patterns are refused too, e.g. `(\s*,\s*\w+)*`, where the comma
 * makes every split unique. Rewrite those without the outer repetition (or use `contains`).
 * It does not refuse polynomial patterns such as `.*a.*a.*a`, which are slow only on long inputs.
 */

/** Sorted, disjoint, inclusive UTF-16 code unit ranges, flat: [lo0, hi0, lo1, hi1, …]. */
type CharSet = readonly number[];

type RegexNode =
  | { kind: "char"; set: CharSet }
  | { kind: "empty" }
  | { kind: "look"; body: RegexNode }
  | { kind: "seq"; items: RegexNode[] }
  | { kind: "alt"; options: RegexNode[] }
  | { kind: "repeat"; body: RegexNode; min: number; max: number; start: number; end: number }
  | { kind: "backref" };

/** Ways one pass of a repeated body may split its text, above which the repeat is refused. */
const CHOICES_MAX = 1000;
const NESTING_MAX = 64;
const CODE_UNIT_MAX = 0xffff;

const EMPTY_SET: CharSet = [];
const ANY: CharSet = [0, CODE_UNIT_MAX];
const DIGIT: CharSet = [0x30, 0x39];
const WORD: CharSet = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
const SPACE: CharSet = [
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f,
  0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff,
];
const LINE_TERMINATORS: CharSet = [0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029];

/**
 * Returns why `source` is refused, or undefined when it is safe. `source` must already be a valid
 * regular expression (compiled without flags).
 */
export function findBacktrackingRisk(source: string): string | undefined {
  let tree: RegexNode;
  try {
    tree = new RegexParser(source).parse();
  } catch (error) {
    return (error as Error).message;
  }
  return findRiskyRepeat(tree, source);
}

function findRiskyRepeat(node: RegexNode, source: string): string | undefined {
  switch (node.kind) {
    case "char":
    case "empty":
    case "backref":
      return undefined;
    case "look":
      return findRiskyRepeat(node.body, source);
    case "seq":
    case "alt": {
      for (const child of node.kind === "seq" ? node.items : node.options) {
        const risk = findRiskyRepeat(child, source);
        if (risk !== undefined) return risk;
      }
      return undefined;
    }
    case "repeat": {
      const inner = findRiskyRepeat(node.body, source);
      if (inner !== undefined) return inner;
      if (node.max <= 1 || !consumes(node.body)) return undefined;
      const choices = splitChoices(node.body);
      if (choices <= 1) return undefined;
      if (node.max !== Number.POSITIVE_INFINITY && choices ** node.max <= CHOICES_MAX) return undefined;
      const part = source.slice(node.start, node.end);
      const cause = hasOverlappingAlternatives(node.body)
        ? "repeats alternatives that can match the same text"
        : "repeats a part that itself varies in length (nested quantifiers)";
      return (
        `\`${part}\` ${cause}, so an input that almost matches makes the regex engine try ` +
        "exponentially many ways (catastrophic backtracking). Rewrite it without the nested repetition."
      );
    }
  }
}

/** How many ways one pass of `node` may split the same text; saturates to Infinity. */
function splitChoices(node: RegexNode): number {
  switch (node.kind) {
    case "char":
    case "empty":
    case "look":
      return 1;
    case "backref":
      return Number.POSITIVE_INFINITY;
    case "seq":
      return node.items.reduce((ways, item) => saturate(ways * splitChoices(item)), 1);
    case "alt": {
      const counts = node.options.map(splitChoices);
      return overlaps(node.options)
        ? saturate(counts.reduce((sum, count) => sum + count, 0))
        : Math.max(...counts);
    }
    case "repeat": {
      if (!consumes(node.body) || node.max === 0) return 1;
      if (node.max === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
      return saturate((node.max - node.min + 1) * splitChoices(node.body) ** node.max);
    }
  }
}

function saturate(ways: number): number {
  return ways > CHOICES_MAX ? Number.POSITIVE_INFINITY : ways;
}

function hasOverlappingAlternatives(node: RegexNode): boolean {
  switch (node.kind) {
    case "alt":
      return overlaps(node.options) || node.options.some(hasOverlappingAlternatives);
    case "seq":
      return node.items.some(hasOverlappingAlternatives);
    case "repeat":
      return hasOverlappingAlternatives(node.body);
    default:
      return false;
  }
}

/** Two alternatives could both match at one position: a shared first character, or both can be empty. */
function overlaps(options: readonly RegexNode[]): boolean {
  const firsts = options.map(firstChars);
  let emptyOptions = 0;
  for (let i = 0; i < options.length; i++) {
    const option = options[i] as RegexNode;
    if (nullable(option) && ++emptyOptions > 1) return true;
    for (let j = i + 1; j < options.length; j++) {
      if (intersects(firsts[i] ?? EMPTY_SET, firsts[j] ?? EMPTY_SET)) return true;
    }
  }
  return false;
}

function nullable(node: RegexNode): boolean {
  switch (node.kind) {
    case "char":
      return false;
    case "empty":
    case "look":
    case "backref":
      return true;
    case "seq":
      return node.items.every(nullable);
    case "alt":
      return node.options.some(nullable);
    case "repeat":
      return node.min === 0 || nullable(node.body);
  }
}

function consumes(node: RegexNode): boolean {
  switch (node.kind) {
    case "char":
    case "backref":
      return true;
    case "empty":
    case "look":
      return false;
    case "seq":
      return node.items.some(consumes);
    case "alt":
      return node.options.some(consumes);
    case "repeat":
      return node.max > 0 && consumes(node.body);
  }
}

function firstChars(node: RegexNode): CharSet {
  switch (node.kind) {
    case "char":
      return node.set;
    case "empty":
    case "look":
      return EMPTY_SET;
    case "backref":
      return ANY;
    case "seq": {
      let set = EMPTY_SET;
      for (const item of node.items) {
        set = union(set, firstChars(item));
        if (!nullable(item)) break;
      }
      return set;
    }
    case "alt":
      return node.options.reduce((set, option) => union(set, firstChars(option)), EMPTY_SET);
    case "repeat":
      return node.max === 0 ? EMPTY_SET : firstChars(node.body);
  }
}

function union(a: CharSet, b: CharSet): CharSet {
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

function complement(set: CharSet): CharSet {
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

function intersects(a: CharSet, b: CharSet): boolean {
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < b.length; j += 2) {
      if ((a[i] as number) <= (b[j + 1] as number) && (b[j] as number) <= (a[i + 1] as number)) return true;
    }
  }
  return false;
}

/** Adds the other case of every ASCII letter in the set, for `(?i:…)` groups. */
function foldAsciiCase(set: CharSet): CharSet {
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

function single(code: number): CharSet {
  return [code, code];
}

/**
 * Parses the pattern grammar of a regex compiled without the `u` flag (Annex B: a `{` that is not
 * a quantifier and a lone `]` are literals). Only what the analysis needs is kept.
 */
class RegexParser {
  readonly #source: string;
  #at = 0;
  #depth = 0;
  #ignoreCase: boolean[] = [false];

  constructor(source: string) {
    this.#source = source;
  }

  parse(): RegexNode {
    return this.#alternation();
  }

  #alternation(): RegexNode {
    if (++this.#depth > NESTING_MAX) throw new Error(`groups are nested more than ${NESTING_MAX} deep`);
    const options = [this.#sequence()];
    while (this.#source[this.#at] === "|") {
      this.#at++;
      options.push(this.#sequence());
    }
    this.#depth--;
    return options.length === 1 ? (options[0] as RegexNode) : { kind: "alt", options };
  }

  #sequence(): RegexNode {
    const items: RegexNode[] = [];
    while (
      this.#at < this.#source.length &&
      this.#source[this.#at] !== "|" &&
      this.#source[this.#at] !== ")"
    ) {
      const start = this.#at;
      const atom = this.#atom();
      items.push(this.#quantified(atom, start));
    }
    return items.length === 1 ? (items[0] as RegexNode) : { kind: "seq", items };
  }

  #quantified(atom: RegexNode, start: number): RegexNode {
    const char = this.#source[this.#at];
    let min: number;
    let max: number;
    if (char === "*" || char === "+" || char === "?") {
      this.#at++;
      min = char === "+" ? 1 : 0;
      max = char === "?" ? 1 : Number.POSITIVE_INFINITY;
    } else if (char === "{") {
      const braces = /^\{(\d+)(,(\d*))?\}/.exec(this.#source.slice(this.#at));
      if (braces === null) return atom;
      this.#at += braces[0].length;
      min = Number(braces[1]);
      max = braces[2] === undefined ? min : braces[3] ? Number(braces[3]) : Number.POSITIVE_INFINITY;
    } else {
      return atom;
    }
    if (this.#source[this.#at] === "?") this.#at++;
    return { kind: "repeat", body: atom, min, max, start, end: this.#at };
  }

  #atom(): RegexNode {
    const char = this.#source[this.#at++] as string;
    switch (char) {
      case "(":
        return this.#group();
      case "[":
        return this.#chars(this.#charClass());
      case ".":
        return this.#chars(complement(LINE_TERMINATORS));
      case "^":
      case "$":
        return { kind: "empty" };
      case "\\":
        return this.#escape();
      default:
        return this.#chars(single(char.charCodeAt(0)));
    }
  }

  #chars(set: CharSet): RegexNode {
    return { kind: "char", set: this.#ignoreCase.at(-1) ? foldAsciiCase(set) : set };
  }

  #group(): RegexNode {
    const rest = this.#source.slice(this.#at);
    const look = /^\?(?:=|!|<=|<!)/.exec(rest);
    const modifiers = /^\?([ims]*)(?:-([ims]*))?:/.exec(rest);
    const named = /^\?<[^>]*>/.exec(rest);
    let ignoreCase = this.#ignoreCase.at(-1) ?? false;
    if (look) this.#at += look[0].length;
    else if (modifiers) {
      this.#at += modifiers[0].length;
      if (modifiers[1]?.includes("i")) ignoreCase = true;
      if (modifiers[2]?.includes("i")) ignoreCase = false;
    } else if (named) this.#at += named[0].length;
    this.#ignoreCase.push(ignoreCase);
    const body = this.#alternation();
    this.#ignoreCase.pop();
    this.#at++; // the closing ")"; the pattern is known to be valid
    return look ? { kind: "look", body } : body;
  }

  #escape(): RegexNode {
    const char = this.#source[this.#at] ?? "";
    if (char === "b" || char === "B") {
      this.#at++;
      return { kind: "empty" };
    }
    const shorthand = shorthandClass(char);
    if (shorthand !== undefined) {
      this.#at++;
      return this.#chars(shorthand);
    }
    if (/[1-9]/.test(char)) {
      while (/\d/.test(this.#source[this.#at] ?? "")) this.#at++;
      return { kind: "backref" };
    }
    if (char === "k" && this.#source[this.#at + 1] === "<") {
      const end = this.#source.indexOf(">", this.#at);
      if (end !== -1) {
        this.#at = end + 1;
        return { kind: "backref" };
      }
    }
    return this.#chars(single(this.#escapedCode()));
  }

  #charClass(): CharSet {
    const negated = this.#source[this.#at] === "^";
    if (negated) this.#at++;
    let set = EMPTY_SET;
    while (this.#at < this.#source.length && this.#source[this.#at] !== "]") {
      const from = this.#classAtom();
      if (
        this.#source[this.#at] === "-" &&
        this.#source[this.#at + 1] !== "]" &&
        this.#at + 1 < this.#source.length &&
        from.length === 2 &&
        from[0] === from[1]
      ) {
        this.#at++;
        const to = this.#classAtom();
        set =
          to.length === 2 && to[0] === to[1]
            ? union(set, [from[0] as number, to[0] as number])
            : union(union(union(set, from), to), single(0x2d));
      } else {
        set = union(set, from);
      }
    }
    this.#at++; // the closing "]"
    return negated ? complement(set) : set;
  }

  #classAtom(): CharSet {
    const char = this.#source[this.#at++] as string;
    if (char !== "\\") return single(char.charCodeAt(0));
    const escaped = this.#source[this.#at] ?? "";
    const shorthand = shorthandClass(escaped);
    if (shorthand !== undefined) {
      this.#at++;
      return shorthand;
    }
    if (escaped === "b") {
      this.#at++;
      return single(0x08);
    }
    return single(this.#escapedCode());
  }

  /** The code unit of a character escape; `#at` is just past the backslash. */
  #escapedCode(): number {
    const char = this.#source[this.#at++] ?? "\\";
    const controls: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, f: 0x0c, v: 0x0b, 0: 0 };
    const control = controls[char];
    if (control !== undefined) return control;
    const hex = char === "x" ? 2 : char === "u" ? 4 : 0;
    if (hex > 0) {
      const digits = this.#source.slice(this.#at, this.#at + hex);
      if (new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits)) {
        this.#at += hex;
        return Number.parseInt(digits, 16);
      }
    }
    if (char === "c" && /[a-zA-Z]/.test(this.#source[this.#at] ?? "")) {
      return (this.#source.charCodeAt(this.#at++) as number) % 32;
    }
    return char.charCodeAt(0);
  }
}

function shorthandClass(char: string): CharSet | undefined {
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
