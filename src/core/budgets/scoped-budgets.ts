import { Minimatch } from "minimatch";
import type { BudgetAccount, LedgerBalance } from "../ledger/ledger.ts";
import { type BudgetPeriod, type CalendarPeriod, calendarPeriod } from "./calendar-period.ts";

/** A `budgets` entry of the config: a limit for every call whose scope matches, per period. */
export interface ScopedBudget {
  /** A glob over call scopes, e.g. "team-a/**"; "**" also covers calls without a scope. */
  scope: string;
  limit: number;
  period: BudgetPeriod;
  /** IANA time zone whose calendar sets the period boundaries, e.g. "Europe/Paris". */
  timeZone: string;
  /** Fractions of the limit (0.8 = 80%) at which spend raises a warning. */
  warnAt: readonly number[];
}

/** A scoped budget as one call meets it: the ledger account of the current period. */
export interface ScopedHold {
  budget: ScopedBudget;
  period: CalendarPeriod;
  account: BudgetAccount;
}

/**
 * The ledger account of a budget's period. The id names the scope, period and zone so that every
 * process (and a person reading the ledger) meets the same account, and a new period a new one.
 */
export function budgetAccountId(budget: ScopedBudget, period: CalendarPeriod): string {
  if (budget.period === "none") return budget.scope;
  return `${budget.scope} ${budget.period} ${period.key} ${budget.timeZone}`;
}

const matchers = new Map<string, Minimatch>();

/** One compiled glob per scope pattern; `#` starts a scope, not a comment (as for policy scopePatterns). */
function matcherFor(pattern: string): Minimatch {
  let matcher = matchers.get(pattern);
  if (matcher === undefined) {
    matcher = new Minimatch(pattern, { dot: true, nocomment: true });
    matchers.set(pattern, matcher);
  }
  return matcher;
}

/**
 * Whether a call with these scopes falls under a budget's scope glob. `"**"` covers every call,
 * also one without a scope. (Scopes with `.`, `..` or empty segments never get here: the engine
 * refuses them, since a glob would not see `team-a/../x` as under `team-a/**`.)
 */
export function scopeMatches(budget: ScopedBudget, callScope: readonly string[] | undefined): boolean {
  if (budget.scope === "**") return true;
  const scopes = callScope === undefined || callScope.length === 0 ? [""] : callScope;
  const matcher = matcherFor(budget.scope);
  return scopes.some((scope) => matcher.match(scope));
}

/** The budgets this call is held against, each at its current period. */
export function scopedHolds(
  budgets: readonly ScopedBudget[],
  callScope: readonly string[] | undefined,
  nowMs: number,
): ScopedHold[] {
  const holds: ScopedHold[] = [];
  for (const budget of budgets) {
    if (!scopeMatches(budget, callScope)) continue;
    const period = calendarPeriod(nowMs, budget.period, budget.timeZone);
    const id = budgetAccountId(budget, period);
    // The config refuses two budgets with one account; a hold never names an account twice.
    if (holds.some((hold) => hold.account.id === id)) continue;
    holds.push({ budget, period, account: { id, limitUsertokens: budget.limit } });
  }
  return holds;
}

/** What spend did to one budget's warning thresholds. */
export interface ThresholdCheck {
  /** For the receipt: the highest threshold the budget is at or past, while it is. */
  warning: string | undefined;
  /** Thresholds this spend crossed (each crossed by exactly one post), for the audit log. */
  crossed: number[];
}

/** Compares spend before and after one post with the budget's thresholds. */
export function checkThresholds(
  name: string,
  warnAt: readonly number[],
  after: LedgerBalance,
  postedNow: number,
): ThresholdCheck {
  const limit = after.budgetUsertokens;
  if (limit <= 0 || warnAt.length === 0) return { warning: undefined, crossed: [] };
  const spent = after.postedUsertokens;
  const before = spent - postedNow;
  const reached = warnAt.filter((fraction) => spent >= thresholdUsertokens(fraction, limit));
  // Fractions listed twice, or rounding to the same amount, are one threshold: one event.
  const crossedAt = new Set<number>();
  const crossed = reached.filter((fraction) => {
    const threshold = thresholdUsertokens(fraction, limit);
    if (before >= threshold || crossedAt.has(threshold)) return false;
    crossedAt.add(threshold);
    return true;
  });
  const highest = Math.max(...reached);
  const warning =
    reached.length === 0
      ? undefined
      : `budget ${name} has spent ${spent} of ${limit} UT (${percentOf(spent, limit)}%), ` +
        `past its ${Math.round(highest * 10_000) / 100}% warning`;
  return { warning, crossed };
}

/**
 * The spend at which a warning fraction is reached, in whole usertokens. The fraction is taken in
 * basis points first, so 0.07 of 100 is exactly 7 (in floating point 0.07 × 100 is 7.000000000000001).
 */
export function thresholdUsertokens(fraction: number, limit: number): number {
  const basisPoints = Math.round(fraction * 10_000);
  return Math.ceil((basisPoints * limit) / 10_000);
}

/** Whole percent of the limit spent, rounded down: 29 of 100 is 29%, never 28%. */
export function percentOf(spent: number, limit: number): number {
  return Math.floor((spent * 100) / limit);
}
