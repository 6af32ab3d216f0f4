/** The 12 operators a condition may use. */
export const FIELD_OPERATORS = [
  "exists",
  "not_exists",
  "eq",
  "neq",
  "gt",
  "gte",
  "lt",
  "lte",
  "in",
  "not_in",
  "contains",
  "regex",
] as const;

export type FieldOperator = (typeof FIELD_OPERATORS)[number];
export type PolicyEffect = "deny" | "warn";
export type PolicyEnforcement = "hard" | "soft";
export type PolicySeverity = "critical" | "high" | "medium" | "low" | "info";

export const POLICY_SEVERITIES = ["critical", "high", "medium", "low", "info"] as const;

/** What a rule's match reports when the rule sets no severity. */
export const DEFAULT_SEVERITY: PolicySeverity = "medium";
export const DEFAULT_PRIORITY = 100;

/** One test on one request field, addressed in dot notation (`metadata.team`, `tools.0`). */
export interface FieldCondition {
  field: string;
  operator: FieldOperator;
  value?: unknown;
}

/**
 * Hours of a day during which a rule applies, on the wall clock of `timeZone` (default: the
 * process's local zone). `startHour` is inclusive, `endHour` exclusive; a window with
 * `startHour > endHour` runs overnight, and `daysOfWeek` (0 = Sunday) names the day it starts on.
 */
export interface TimeWindow {
  daysOfWeek?: number[];
  startHour: number;
  endHour: number;
  timeZone?: string;
}

export interface PolicyRule {
  name: string;
  description?: string;
  effect: PolicyEffect;
  enforcement: PolicyEnforcement;
  severity?: PolicySeverity;
  /** Lower runs first; ties keep file order. Loaded rules always carry it (default 100). */
  priority?: number;
  /** Loaded rules always carry it (default true). */
  enabled?: boolean;
  /** ALL must match. An empty list matches every request the scope and time windows let through. */
  conditions: FieldCondition[];
  /** Minimatch globs; the rule applies when ANY entry of the request's `scope` matches ANY pattern. */
  scopePatterns?: string[];
  /** The rule applies only while ANY window is open. */
  timeWindows?: TimeWindow[];
}

/** The request as the policy gate sees it: fields looked up in dot notation; `scope` is a string[]. */
export type PolicyContext = Readonly<Record<string, unknown>>;

export interface RuleMatch {
  rule: string;
  effect: PolicyEffect;
  enforcement: PolicyEnforcement;
  severity: PolicySeverity;
  reason: string;
}

export interface PolicyResult {
  decision: "allow" | "deny";
  hasWarnings: boolean;
  /** Every matched rule, in evaluation order (priority, then file order). */
  matched: RuleMatch[];
  /** Matched rules with effect "deny" and enforcement "hard": any one of them denies. */
  hardViolations: RuleMatch[];
  /** Every other matched rule: the call proceeds and these become warnings. */
  softViolations: RuleMatch[];
  reasons: string[];
  evaluatedAt: string;
}
