import type { PostResult } from "../ledger/ledger.ts";
import { checkThresholds, type ScopedHold } from "./scoped-budgets.ts";

export interface BudgetAlerts {
  /** For the receipt: each budget at or past a warning threshold after this post. */
  warnings: string[];
  /** One audit record per threshold this post crossed. */
  crossings: Record<string, unknown>[];
}

/**
 * What one post did to the warning thresholds of the vault budget and of every scoped budget the
 * call was held against. Each crossing is reported by exactly the post that crossed it, since the
 * ledger returns each account's numbers from inside the post's own atomic step.
 */
export function budgetAlerts(
  result: PostResult,
  vaultWarnAt: readonly number[],
  scoped: readonly ScopedHold[],
): BudgetAlerts {
  const alerts: BudgetAlerts = { warnings: [], crossings: [] };
  const add = (name: string, warnAt: readonly number[], after: PostResult["balance"], details: object) => {
    const check = checkThresholds(name, warnAt, after, result.postedUsertokens);
    if (check.warning !== undefined) alerts.warnings.push(check.warning);
    for (const threshold of check.crossed) {
      alerts.crossings.push({
        budget: name,
        threshold,
        spentUsertokens: after.postedUsertokens,
        limitUsertokens: after.budgetUsertokens,
        ...details,
      });
    }
  };
  add("of the vault", vaultWarnAt, result.balance, {});
  // The ledger reports the hold's accounts in reserve order, which is `scoped`'s order; matching by
  // position also works when the ledger cannot name them (a TigerBeetle hold another process placed).
  for (const [index, { id, balance }] of result.accounts.entries()) {
    const hold = scoped.find((candidate) => candidate.account.id === id) ?? scoped[index];
    if (hold === undefined) continue;
    const { budget, period } = hold;
    add(`"${hold.account.id}"`, budget.warnAt, balance, {
      scope: budget.scope,
      period: budget.period,
      periodKey: period.key,
      timeZone: budget.timeZone,
    });
  }
  return alerts;
}
