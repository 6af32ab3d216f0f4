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

import { ANY, type CharSet, EMPTY_SET, intersects, union } from "./regex-char-set.ts";
import { type RegexNode, RegexParser } from "./regex-parser.ts";

/** Ways one pass of a repeated body may split its text, above which the repeat is refused. */
const CHOICES_MAX = 1000;

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
