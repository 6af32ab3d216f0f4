import type { ConcernSeverity, ConcernType, DetectedConcern } from "./board-types.ts";
import type { ReviewSubject } from "./review-subject.ts";
import { mostSevere } from "./severity.ts";

/** What every detector shares: it reads a subject and reports at most one concern of its type. */
export type Detector = (subject: ReviewSubject) => DetectedConcern | undefined;

/** One signal a detector found; the detector keeps the most severe ones. */
export interface Signal {
  severity: ConcernSeverity;
  detail: string;
}

export function concernFrom(type: ConcernType, signals: readonly Signal[]): DetectedConcern | undefined {
  const worst = mostSevere(signals.map((signal) => signal.severity));
  if (worst === undefined) return undefined;
  const detail = signals
    .filter((signal) => signal.severity === worst)
    .map((signal) => signal.detail)
    .join("; ");
  return { type, severity: worst, detail };
}

export interface TextRule {
  severity: ConcernSeverity;
  pattern: RegExp;
  detail: string;
}

/** Text rules sorted most severe first, plus one pattern that matches wherever any of them does. */
export interface RuleBook {
  rules: readonly TextRule[];
  anyRule: RegExp;
}

/**
 * Most texts match no rule at all, so one combined pass rules them out before the rules are tried
 * one by one (about half the cost of trying each rule on a clean 16 KB prompt).
 */
export function compileRules(rules: readonly TextRule[]): RuleBook {
  return { rules, anyRule: anyOf(rules.map((rule) => rule.pattern)) };
}

/** One case-insensitive pattern matching wherever any of `patterns` matches (all must be /i, no /m). */
export function anyOf(patterns: readonly RegExp[]): RegExp {
  for (const pattern of patterns) {
    if (pattern.flags !== "i") throw new Error(`text rule ${pattern} must have exactly the flag i`);
  }
  return new RegExp(patterns.map((pattern) => `(?:${pattern.source})`).join("|"), "i");
}

/** The most severe rule of the book that matches any of the texts. */
export function concernFromRules(
  type: ConcernType,
  book: RuleBook,
  texts: readonly string[],
): DetectedConcern | undefined {
  const candidates = texts.filter((text) => text.length > 0 && book.anyRule.test(text));
  if (candidates.length === 0) return undefined;
  for (const rule of book.rules) {
    if (candidates.some((text) => rule.pattern.test(text))) {
      return { type, severity: rule.severity, detail: rule.detail };
    }
  }
  return undefined;
}
