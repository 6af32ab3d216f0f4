import {
  type CharSet,
  complement,
  EMPTY_SET,
  foldAsciiCase,
  LINE_TERMINATORS,
  shorthandClass,
  single,
  union,
} from "./regex-char-set.ts";

/** The regex as a tree of what the analysis needs to know about each part. */
export type RegexNode =
  | { kind: "char"; set: CharSet }
  | { kind: "empty" }
  | { kind: "look"; body: RegexNode }
  | { kind: "seq"; items: RegexNode[] }
  | { kind: "alt"; options: RegexNode[] }
  | { kind: "repeat"; body: RegexNode; min: number; max: number; start: number; end: number }
  | { kind: "backref" };

const NESTING_MAX = 64;

/**
 * Parses the pattern grammar of a regex compiled without the `u` flag (Annex B: a `{` that is not
 * a quantifier and a lone `]` are literals). Only what the analysis needs is kept.
 */
export class RegexParser {
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
