import {
  type CompiledCondition,
  type CompiledRule,
  type CompiledScope,
  type CompiledWindow,
  orderedCompiledRules,
} from "./compiled-rule.ts";
import type { FieldOperator, PolicyContext, PolicyResult, PolicyRule, RuleMatch } from "./policy-rule.ts";

const NO_SCOPE: readonly string[] = [];
const VALUE_CHARS_MAX = 60;
const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;

/**
 * Decides a request against policy rules. Every enabled rule is evaluated, in priority order, so
 * the result lists every warning as well as every violation.
 *
 * A rule applies when its scope patterns and time windows let the request through and ALL of its
 * conditions match. A condition on a missing field (other than exists / not_exists), or on a value
 * its operator cannot compare, matches nothing: except in a hard deny rule, which then fails closed
 * and matches, with a reason naming the field, unless another of its conditions is plainly false.
 * Any matched hard deny denies; every other match is a warning.
 */
export function evaluatePolicies(
  rules: readonly PolicyRule[],
  context: PolicyContext,
  now: Date,
): PolicyResult {
  const nowMs = now.getTime();
  const scope = scopeOf(context);
  const matched: RuleMatch[] = [];
  const hardViolations: RuleMatch[] = [];
  const softViolations: RuleMatch[] = [];
  for (const rule of orderedCompiledRules(rules)) {
    const match = matchRule(rule, context, scope, nowMs);
    if (match === undefined) continue;
    matched.push(match);
    (rule.failsClosed ? hardViolations : softViolations).push(match);
  }
  return {
    decision: hardViolations.length > 0 ? "deny" : "allow",
    hasWarnings: softViolations.length > 0,
    matched,
    hardViolations,
    softViolations,
    reasons: matched.map((match) => match.reason),
    evaluatedAt: now.toISOString(),
  };
}

function matchRule(
  rule: CompiledRule,
  context: PolicyContext,
  scope: readonly string[],
  nowMs: number,
): RuleMatch | undefined {
  // Conditions first: they are the cheapest test and the one that most often rules a rule out.
  let undecided: CompiledCondition | undefined;
  for (const condition of rule.conditions) {
    const value = lookUp(context, condition.path);
    if (value === undefined && !condition.testsPresence) {
      undecided ??= condition;
      continue;
    }
    const outcome = condition.test(value);
    if (outcome === "no-match") return undefined;
    if (outcome === "undecidable") undecided ??= condition;
  }
  if (undecided !== undefined && !rule.failsClosed) return undefined;
  if (rule.scopes !== undefined && !scopeMatches(rule.scopes, scope)) return undefined;
  if (rule.windows !== undefined && openWindow(rule.windows, nowMs) === undefined) return undefined;
  return {
    rule: rule.name,
    effect: rule.effect,
    enforcement: rule.enforcement,
    severity: rule.severity,
    reason: describeMatch(rule, context, scope, nowMs, undecided),
  };
}

/** `scope` in the context: a list of strings, or one string; anything else means no scope. */
function scopeOf(context: PolicyContext): readonly string[] {
  const scope = context.scope;
  if (typeof scope === "string") return [scope];
  if (!Array.isArray(scope)) return NO_SCOPE;
  return scope.every((entry) => typeof entry === "string")
    ? scope
    : scope.filter((e) => typeof e === "string");
}

function scopeMatches(patterns: readonly CompiledScope[], scope: readonly string[]): boolean {
  return matchingScope(patterns, scope) !== undefined;
}

function matchingScope(
  patterns: readonly CompiledScope[],
  scope: readonly string[],
): { entry: string; pattern: string } | undefined {
  for (const entry of scope) {
    for (const { pattern, matcher } of patterns) if (matcher.match(entry)) return { entry, pattern };
  }
  return undefined;
}

function openWindow(windows: readonly CompiledWindow[], nowMs: number): CompiledWindow | undefined {
  for (const compiled of windows) {
    const dayHour = compiled.clock.dayHourAt(nowMs);
    const day = Math.floor(dayHour / 24);
    const hour = dayHour % 24;
    const startedOn = dayWindowStarted(compiled.window.startHour, compiled.window.endHour, day, hour);
    if (startedOn !== undefined && (compiled.dayMask & (1 << startedOn)) !== 0) return compiled;
  }
  return undefined;
}

/** The weekday the window open at `hour` of `day` started on, or undefined when it is closed. */
function dayWindowStarted(startHour: number, endHour: number, day: number, hour: number): number | undefined {
  if (startHour < endHour) return startHour <= hour && hour < endHour ? day : undefined;
  // Overnight: the hours after midnight belong to the day the window opened on.
  if (hour >= startHour) return day;
  return hour < endHour ? (day + 6) % 7 : undefined;
}

/** Dot-notation lookup through own properties only, so `constructor` or `__proto__` find nothing. */
function lookUp(context: PolicyContext, path: readonly string[]): unknown {
  let node: unknown = context;
  for (const key of path) {
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

// Reasons are built only for rules that matched, off the hot path of rules that did not.

function describeMatch(
  rule: CompiledRule,
  context: PolicyContext,
  scope: readonly string[],
  nowMs: number,
  undecided: CompiledCondition | undefined,
): string {
  const head = `rule ${JSON.stringify(rule.name)} (${rule.enforcement} ${rule.effect}, ${rule.severity})`;
  const parts: string[] = [];
  if (undecided !== undefined) {
    const value = lookUp(context, undecided.path);
    const field = `\`${undecided.condition.field}\``;
    parts.push(
      value === undefined
        ? `field ${field} is missing from the request, so this hard deny rule fails closed`
        : `field ${field} is ${showValue(value)}, which "${undecided.condition.operator}" cannot compare, ` +
            "so this hard deny rule fails closed",
    );
  } else if (rule.conditions.length === 0) {
    parts.push("applies to every request");
  } else {
    parts.push(rule.conditions.map((condition) => describeCondition(condition, context)).join(" and "));
  }
  if (rule.scopes !== undefined) {
    const hit = matchingScope(rule.scopes, scope);
    if (hit !== undefined)
      parts.push(`scope ${JSON.stringify(hit.entry)} matches ${JSON.stringify(hit.pattern)}`);
  }
  if (rule.windows !== undefined) {
    const open = openWindow(rule.windows, nowMs);
    if (open !== undefined) parts.push(`inside time window ${describeWindow(open)}`);
  }
  return `${head}: ${parts.join("; ")}`;
}

const OPERATOR_WORDS: Readonly<Record<FieldOperator, string>> = {
  exists: "is set",
  not_exists: "is not set",
  eq: "==",
  neq: "!=",
  gt: ">",
  gte: ">=",
  lt: "<",
  lte: "<=",
  in: "in",
  not_in: "not in",
  contains: "contains",
  regex: "matches",
};

/**
 * A tool call's arguments are caller data (often personal): a reason, which may reach receipts and
 * the audit log, names the argument but never shows its value.
 */
const HIDDEN_VALUES_ROOT = "tool_args";

function describeCondition(compiled: CompiledCondition, context: PolicyContext): string {
  const { field, operator, value: expected } = compiled.condition;
  const hidden = compiled.path[0] === HIDDEN_VALUES_ROOT;
  const actual = hidden ? undefined : lookUp(context, compiled.path);
  if (operator === "not_exists") return `${field} is not set`;
  if (hidden) {
    if (operator === "exists") return `${field} is set`;
    const shownExpected = operator === "regex" ? `/${String(expected)}/` : showValue(expected);
    return `${field} ${OPERATOR_WORDS[operator]} ${shownExpected}`;
  }
  if (operator === "exists") return `${field} is set (${showValue(actual)})`;
  const shownExpected = operator === "regex" ? `/${String(expected)}/` : showValue(expected);
  return `${field} ${showValue(actual)} ${OPERATOR_WORDS[operator]} ${shownExpected}`;
}

function describeWindow(compiled: CompiledWindow): string {
  const { daysOfWeek, startHour, endHour, timeZone } = compiled.window;
  const days = daysOfWeek === undefined ? "every day" : daysOfWeek.map((day) => DAY_NAMES[day]).join(",");
  return `${startHour}:00–${endHour}:00 ${days} (${timeZone ?? "local time"})`;
}

/** Values in reasons are cut short: a reason may be logged, and a field may hold a long prompt. */
function showValue(value: unknown): string {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return shown.length > VALUE_CHARS_MAX ? `${shown.slice(0, VALUE_CHARS_MAX)}…` : shown;
}
