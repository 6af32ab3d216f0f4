import { minimatch } from "minimatch";
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

/** Whether a call with these scopes falls under a budget's scope glob. */
export function scopeMatches(budget: ScopedBudget, callScope: readonly string[] | undefined): boolean {
  const scopes = callScope === undefined || callScope.length === 0 ? [""] : callScope;
  return scopes.some((scope) => minimatch(scope, budget.scope, { dot: true }));
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
    holds.push({
      budget,
      period,
      account: { id: budgetAccountId(budget, period), limitUsertokens: budget.limit },
    });
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
  const reached = warnAt.filter((fraction) => spent >= Math.ceil(fraction * limit));
  const crossed = reached.filter((fraction) => before < Math.ceil(fraction * limit));
  const highest = Math.max(...reached);
  const warning =
    reached.length === 0
      ? undefined
      : `budget ${name} has spent ${spent} of ${limit} UT (${Math.floor((spent / limit) * 100)}%), ` +
        `past its ${Math.round(highest * 100)}% warning`;
  return { warning, crossed };
}
