import { Minimatch } from "minimatch";
import { PolicyLoadError } from "./policy-load-error.ts";
import {
  DEFAULT_PRIORITY,
  DEFAULT_SEVERITY,
  type FieldCondition,
  type PolicyEffect,
  type PolicyEnforcement,
  type PolicyRule,
  type PolicySeverity,
  type TimeWindow,
} from "./policy-rule.ts";
import { formatPath, policyRuleSchema } from "./policy-schema.ts";
import { type ZoneClock, zoneClock } from "./zone-clock.ts";

/**
 * What one condition says about a field value. "undecidable" means the value is there but the
 * operator cannot compare it (gt on a string, regex on a number); like a missing field, it
 * matches nothing, except that a hard deny rule fails closed on it.
 */
export type ConditionOutcome = "match" | "no-match" | "undecidable";

export interface CompiledCondition {
  readonly condition: FieldCondition;
  readonly path: readonly string[];
  /** Called with the field's value, never with undefined (a missing field is decided by the caller). */
  readonly test: (value: unknown) => ConditionOutcome;
  /** exists / not_exists decide on a missing field themselves. */
  readonly testsPresence: boolean;
}

export interface CompiledWindow {
  readonly window: TimeWindow;
  readonly clock: ZoneClock;
  /** Bit d set: the window may start on weekday d (0 = Sunday). */
  readonly dayMask: number;
}

export interface CompiledScope {
  readonly pattern: string;
  readonly matcher: Minimatch;
}

/** A rule with everything evaluation needs prepared once: regexes, globs, formatters, defaults. */
export interface CompiledRule {
  readonly rule: PolicyRule;
  readonly name: string;
  readonly effect: PolicyEffect;
  readonly enforcement: PolicyEnforcement;
  readonly severity: PolicySeverity;
  readonly priority: number;
  readonly enabled: boolean;
  /** A hard deny rule: a condition it cannot decide counts as a match. */
  readonly failsClosed: boolean;
  readonly conditions: readonly CompiledCondition[];
  readonly scopes: readonly CompiledScope[] | undefined;
  readonly windows: readonly CompiledWindow[] | undefined;
}

const ALL_DAYS_MASK = 0b111_1111;

/**
 * Compiled forms are cached per rule object. Loaded rules are frozen, so a cached form cannot go
 * stale; rules built in code are validated on first use and must not be changed afterwards.
 */
const compiledRules = new WeakMap<PolicyRule, CompiledRule>();
const orderedLists = new WeakMap<
  readonly PolicyRule[],
  { snapshot: PolicyRule[]; ordered: CompiledRule[] }
>();

/** Compiles rules that passed validation, so their first evaluation costs no more than later ones. */
export function precompileRules(rules: readonly PolicyRule[]): void {
  for (const rule of rules) if (!compiledRules.has(rule)) compiledRules.set(rule, compileRule(rule));
}

/**
 * The enabled rules of `rules` in evaluation order: priority ascending, ties in list order.
 * Cached per list; a list changed in place since (other length or other rule objects) is redone.
 */
export function orderedCompiledRules(rules: readonly PolicyRule[]): readonly CompiledRule[] {
  const cached = orderedLists.get(rules);
  if (cached !== undefined && sameRules(cached.snapshot, rules)) return cached.ordered;
  const compiled = rules.map((rule) => compiledRules.get(rule) ?? compileUnloadedRule(rule));
  const ordered = compiled
    .map((rule, index) => ({ rule, index }))
    .filter(({ rule }) => rule.enabled)
    .sort((a, b) => a.rule.priority - b.rule.priority || a.index - b.index)
    .map(({ rule }) => rule);
  orderedLists.set(rules, { snapshot: [...rules], ordered });
  return ordered;
}

function sameRules(snapshot: readonly PolicyRule[], rules: readonly PolicyRule[]): boolean {
  if (snapshot.length !== rules.length) return false;
  for (let i = 0; i < rules.length; i++) if (snapshot[i] !== rules[i]) return false;
  return true;
}

/** A rule built in code gets the same checks a file's rule gets, with the path in place of a line. */
function compileUnloadedRule(rule: PolicyRule): CompiledRule {
  const result = policyRuleSchema.safeParse(rule);
  if (!result.success) {
    throw new PolicyLoadError(
      result.error.issues.map((issue) => ({
        file: "<rules given in code>",
        line: 0,
        column: 0,
        path: formatPath(issue.path),
        message: `rule ${JSON.stringify(rule.name)} ${formatPath(issue.path)}: ${issue.message}`,
      })),
    );
  }
  const compiled = compileRule(rule);
  compiledRules.set(rule, compiled);
  return compiled;
}

function compileRule(rule: PolicyRule): CompiledRule {
  return {
    rule,
    name: rule.name,
    effect: rule.effect,
    enforcement: rule.enforcement,
    severity: rule.severity ?? DEFAULT_SEVERITY,
    priority: rule.priority ?? DEFAULT_PRIORITY,
    enabled: rule.enabled ?? true,
    failsClosed: rule.effect === "deny" && rule.enforcement === "hard",
    conditions: rule.conditions.map(compileCondition),
    scopes: rule.scopePatterns?.map((pattern) => ({
      pattern,
      // `#` is an ordinary character in a scope, not the start of a comment; a segment starting
      // with a dot ("production/.canary") is matched like any other, as scoped budgets match it.
      matcher: new Minimatch(pattern, { nocomment: true, dot: true }),
    })),
    windows: rule.timeWindows?.map(compileWindow),
  };
}

function compileWindow(window: TimeWindow): CompiledWindow {
  const dayMask =
    window.daysOfWeek === undefined
      ? ALL_DAYS_MASK
      : window.daysOfWeek.reduce((mask, day) => mask | (1 << day), 0);
  return { window, clock: zoneClock(window.timeZone), dayMask };
}

function compileCondition(condition: FieldCondition): CompiledCondition {
  return {
    condition,
    path: condition.field.split("."),
    test: conditionTest(condition),
    testsPresence: condition.operator === "exists" || condition.operator === "not_exists",
  };
}

const outcome = (matches: boolean): ConditionOutcome => (matches ? "match" : "no-match");

function isComparableNumber(value: unknown): value is number {
  return typeof value === "number" && !Number.isNaN(value);
}

function conditionTest(condition: FieldCondition): (value: unknown) => ConditionOutcome {
  const expected = condition.value;
  switch (condition.operator) {
    case "exists":
      return (value) => outcome(value !== undefined);
    case "not_exists":
      return (value) => outcome(value === undefined);
    case "eq":
      return equality((value) => value === expected, false);
    case "neq":
      return equality((value) => value === expected, true);
    case "gt":
      return numeric((value) => value > (expected as number));
    case "gte":
      return numeric((value) => value >= (expected as number));
    case "lt":
      return numeric((value) => value < (expected as number));
    case "lte":
      return numeric((value) => value <= (expected as number));
    case "in": {
      const values = new Set(expected as unknown[]);
      return equality((value) => values.has(value), false);
    }
    case "not_in": {
      const values = new Set(expected as unknown[]);
      return equality((value) => values.has(value), true);
    }
    case "contains": {
      const needle = String(expected);
      return (value) => {
        if (typeof value === "string") return outcome(value.includes(needle));
        if (Array.isArray(value)) return outcome(value.includes(expected));
        return "undecidable";
      };
    }
    case "regex": {
      // No g or y flag: test() then keeps no state between calls.
      const pattern = new RegExp(expected as string);
      return (value) => (typeof value === "string" ? outcome(pattern.test(value)) : "undecidable");
    }
  }
}

/**
 * eq / in and neq / not_in on a scalar compare it. On a list (`scope`, `tools`) each asks whether
 * SOME element passes: eq / in match when an element is one of the values, neq / not_in when an
 * element is not one of them, or the list is empty. Either reading of a negative rule on a list,
 * "none of them is" (`scope neq staging`) or "not all of them are" (`tools not_in [search]`, an
 * allowlist), is then a match whenever it would be, so a hard deny errs towards refusing and never
 * lets a call through that either reading refuses; a list with both kinds matches eq and neq alike.
 * An object cannot equal a scalar, so it is undecidable: a hard deny fails closed on it.
 */
function equality(
  equals: (value: unknown) => boolean,
  negated: boolean,
): (value: unknown) => ConditionOutcome {
  return (value) => {
    if (Array.isArray(value)) {
      return outcome(negated ? value.length === 0 || !value.every(equals) : value.some(equals));
    }
    if (typeof value === "object" && value !== null) return "undecidable";
    return outcome(equals(value) !== negated);
  };
}

function numeric(compare: (value: number) => boolean): (value: unknown) => ConditionOutcome {
  return (value) => (isComparableNumber(value) ? outcome(compare(value)) : "undecidable");
}
