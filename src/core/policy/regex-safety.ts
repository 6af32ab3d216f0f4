/**
 * A static check that refuses regular expressions JavaScript's backtracking engine could take
 * exponential time on ("catastrophic backtracking", ReDoS), or high polynomial time. Policy regexes
 * run on every governed call, on values that come from requests (a tool call's arguments can be
 * long, and the model writes them), so one bad pattern must not be able to hang the process.
 *
 * What it refuses:
 * - a part repeated more than once (`*`, `+`, `{n,}`, or `{n,m}` with m > 1) whose body can match
 *   the same text in more than one way, unless the total number of ways is small and bounded (at
 *   most CHOICES_MAX, e.g. `(\d{1,3}\.){3}` is fine). A body matches text in more than one way
 *   when it holds
 *   - a part of variable length: another quantifier (`(a+)+`, `(a*)*`, `(.*a){20}`, `(a?){30}`,
 *     `(\w+\s?)+`) or a backreference;
 *   - alternatives that can start with the same character (`(a|a)*`, `(a|ab)+`, `(\w|\d)+`, `(.|\s)*`);
 * - such bounded repeats one after another, whose ways multiply (`(\w|\d){9}(\w|\d){9}(\w|\d){9}`:
 *   2^27), when together they pass CHOICES_MAX;
 * - a chain of unbounded repeats that can match the same characters (`\w*\w*`, `.*a.*a`): rejecting
 *   a value of length n then tries about n^k ways for k of them, times n start positions unless
 *   the pattern starts with `^`. Above DEGREE_MAX it is refused (see there).
 *
 * It is conservative: some safe patterns are refused too, e.g. `(\s*,\s*\w+)*`, where the comma
 * makes every split unique. Rewrite those without the outer repetition (or use `contains`).
 */

import { ANY, type CharSet, complement, EMPTY_SET, intersects, union } from "./regex-char-set.ts";
import { type RegexNode, RegexParser } from "./regex-parser.ts";

/** Ways one pass of a repeated body may split its text, above which the repeat is refused. */
const CHOICES_MAX = 1000;

/**
 * The highest power of a value's length a failing match may take time in. Measured on Node 24
 * with a value that almost matches: degree 2 takes ~20 ms on 5,000 characters; degree 3 takes
 * ~0.4 s on 1,000 and ~25 s on 5,000 (`.*rm.*-rf` on 7,500 characters: 32 s); degree 4, ~45 s on
 * 1,000. Model names and scopes are short, but tool arguments and metadata need not be, and while
 * a regex runs the gate decides no other call: only degree 2 stays well under a second for a
 * value of 10,000 characters.
 */
const DEGREE_MAX = 2;

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
  return findRiskyRepeat(tree, source) ?? findSlowChain(tree, source);
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
      return node.kind === "seq" ? findRiskySequence(node.items, source) : undefined;
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

/** Ambiguous parts in a row: each one's ways are allowed alone, but the engine tries their product. */
function findRiskySequence(items: readonly RegexNode[], source: string): string | undefined {
  let ways = 1;
  const ambiguous: RegexNode[] = [];
  for (const item of items) {
    const itemWays = ambiguousWays(item);
    if (itemWays <= 1) continue;
    ambiguous.push(item);
    ways = saturate(ways * itemWays);
  }
  if (ways <= CHOICES_MAX) return undefined;
  const first = ambiguous[0];
  const last = ambiguous.at(-1);
  const part =
    first?.kind === "repeat" && last?.kind === "repeat" ? source.slice(first.start, last.end) : source;
  return (
    `\`${part}\` has parts in a row that can each match the same text in several ways, and their ` +
    `ways multiply (more than ${CHOICES_MAX}), so an input that almost matches makes the regex engine try ` +
    "exponentially many ways (catastrophic backtracking). Rewrite it with fewer ambiguous repeats " +
    "(`(\\w|\\d)` is just `\\w`)."
  );
}

/**
 * How many ways `node` may match one text because of alternatives that overlap and repeats of
 * ambiguous bodies; the length of an unambiguous repeat (`\d{1,3}`) is not counted here.
 */
function ambiguousWays(node: RegexNode): number {
  switch (node.kind) {
    case "char":
    case "empty":
    case "look":
    case "backref":
      return 1;
    case "seq":
      return node.items.reduce((ways, item) => saturate(ways * ambiguousWays(item)), 1);
    case "alt": {
      const counts = node.options.map(ambiguousWays);
      return overlaps(node.options)
        ? saturate(counts.reduce((sum, count) => sum + count, 0))
        : Math.max(...counts);
    }
    case "repeat": {
      if (node.max <= 1 || !consumes(node.body)) return ambiguousWays(node.body);
      const choices = splitChoices(node.body);
      return choices <= 1 ? 1 : saturate(choices ** node.max);
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

/** A run of unbounded repeats that can trade characters, and where it is in the source (-1: unknown). */
interface Chain {
  members: number;
  start: number;
  end: number;
}

const NO_CHAIN: Chain = { members: 0, start: -1, end: -1 };

function findSlowChain(tree: RegexNode, source: string): string | undefined {
  // A pattern that starts with `^` is tried at one position; any other at every position.
  const anchored = source.startsWith("^") && tree.kind !== "alt";
  const chain = longestChain(tree, source);
  const degree = chain.members + (anchored ? 0 : 1);
  if (degree <= DEGREE_MAX) return undefined;
  const part = chain.start >= 0 && chain.end >= 0 ? source.slice(chain.start, chain.end) : source;
  const where = anchored ? "" : ", and the regex is tried from every position of the value";
  return (
    `\`${part}\` chains ${chain.members} unbounded repeats that can match the same characters${where}, ` +
    `so an input that almost matches takes time growing with its length to the power ${degree} ` +
    `(at most ${DEGREE_MAX} is allowed: seconds on a value of a few thousand characters). Drop a leading ` +
    "`.*` (a regex condition already searches the whole value), start the pattern with `^`, or let " +
    "neighbouring repeats match different characters (`\\w+@\\w+`, not `\\w*\\w*`)."
  );
}

/**
 * The longest chain in `node`: unbounded repeats in a row whose characters overlap, with only parts
 * between them that could be matched by those characters too, so the engine may split a text
 * between them in every way. A last repeat with nothing after it ends the match, never a search.
 */
function longestChain(node: RegexNode, source: string): Chain {
  let best = NO_CHAIN;
  let shared: CharSet | undefined;
  let members = 0;
  let start = -1;
  for (const item of node.kind === "seq" ? flatItems(node) : [node]) {
    if (item.kind === "look") {
      best = longer(best, longestChain(item.body, source));
      continue;
    }
    const count = chainMembers(item, source);
    if (count > 0) {
      const chars = charsOf(item);
      if (shared !== undefined && intersects(shared, chars)) {
        shared = intersection(shared, chars);
        members += count;
      } else {
        shared = chars;
        members = count;
        start = item.kind === "repeat" ? item.start : -1;
      }
      const last = item.kind === "repeat" && item.end === source.length;
      const end = item.kind === "repeat" ? item.end : -1;
      best = longer(best, { members: members - (last ? 1 : 0), start, end });
    } else if (shared !== undefined && !nullable(item) && !intersects(shared, charsOf(item))) {
      shared = undefined;
      members = 0;
    }
  }
  return best;
}

/** Sequences inside sequences (groups) are one sequence to the engine. */
function flatItems(node: RegexNode): RegexNode[] {
  return node.kind === "seq" ? node.items.flatMap(flatItems) : [node];
}

/** How many chain members one item of a sequence is: 1 for an unbounded repeat, its longest inner chain for a group. */
function chainMembers(node: RegexNode, source: string): number {
  switch (node.kind) {
    case "repeat":
      if (node.max === Number.POSITIVE_INFINITY) return consumes(node.body) ? 1 : 0;
      return node.max === 0 ? 0 : longestChain(node.body, source).members * node.max;
    case "alt":
      return Math.max(...node.options.map((option) => longestChain(option, source).members));
    default:
      return 0;
  }
}

function longer(a: Chain, b: Chain): Chain {
  return b.members > a.members ? b : a;
}

/** Every character `node` may consume. */
function charsOf(node: RegexNode): CharSet {
  switch (node.kind) {
    case "char":
      return node.set;
    case "backref":
      return ANY;
    case "empty":
    case "look":
      return EMPTY_SET;
    case "seq":
      return node.items.reduce((set, item) => union(set, charsOf(item)), EMPTY_SET);
    case "alt":
      return node.options.reduce((set, option) => union(set, charsOf(option)), EMPTY_SET);
    case "repeat":
      return node.max === 0 ? EMPTY_SET : charsOf(node.body);
  }
}

function intersection(a: CharSet, b: CharSet): CharSet {
  return complement(union(complement(a), complement(b)));
}
