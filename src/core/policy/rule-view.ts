import { BUDGET_FIELDS } from "./policy-context.ts";
import type { PolicyRule, RuleMatch } from "./policy-rule.ts";

/**
 * The loaded rules sorted by what they govern, derived once per load: the same array objects are
 * passed on every call, so the compiled order cached per list (orderedCompiledRules) is reused.
 */
export interface RuleView {
  loaded: readonly PolicyRule[];
  /** Rules about model calls: every rule that does not read tool_name / tool_args. */
  callRules: readonly PolicyRule[];
  toolRules: readonly PolicyRule[];
  /** Some enabled call rule reads a budget field, so checking a call needs the ledger's balance. */
  callRulesReadBudget: boolean;
  /** Call rules whose every condition reads a budget field (the default policy's budget rules). */
  budgetRules: readonly PolicyRule[];
  /** The other call rules. */
  otherCallRules: readonly PolicyRule[];
  /** Some enabled rule of otherCallRules reads a budget field too. */
  otherCallRulesReadBudget: boolean;
}

/** Sorts `loaded` into call rules and tool rules; derive it once per load, not per call. */
export function splitRules(loaded: readonly PolicyRule[]): RuleView {
  const callRules = loaded.filter((rule) => !readsToolFields(rule));
  const otherCallRules = callRules.filter((rule) => !readsOnlyBudget(rule));
  return {
    loaded,
    callRules,
    toolRules: loaded.filter(readsToolFields),
    callRulesReadBudget: callRules.some(readsBudget),
    budgetRules: callRules.filter(readsOnlyBudget),
    otherCallRules,
    otherCallRulesReadBudget: otherCallRules.some(readsBudget),
  };
}

function readsBudget(rule: PolicyRule): boolean {
  return (
    rule.enabled !== false &&
    rule.conditions.some((condition) => BUDGET_FIELDS.has(topLevelField(condition.field)))
  );
}

function readsOnlyBudget(rule: PolicyRule): boolean {
  return (
    rule.conditions.length > 0 && rule.conditions.every((condition) => BUDGET_FIELDS.has(condition.field))
  );
}

/** Every hard violation comes from rules whose conditions read only budget fields. */
export function isBudgetOnly(rules: readonly PolicyRule[], violations: readonly RuleMatch[]): boolean {
  return violations.every((violation) => {
    const rule = rules.find((candidate) => candidate.name === violation.rule);
    return rule !== undefined && readsOnlyBudget(rule);
  });
}

/** The context field a dotted condition path starts at (`budget.x` reads `budget`). */
function topLevelField(field: string): string {
  const dot = field.indexOf(".");
  return dot === -1 ? field : field.slice(0, dot);
}

function readsToolFields(rule: PolicyRule): boolean {
  return rule.conditions.some(
    (condition) => condition.field === "tool_name" || condition.field.startsWith("tool_args"),
  );
}
