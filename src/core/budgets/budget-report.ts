import type { TrustConfig } from "../config.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { makeBalance } from "../ledger/ledger.ts";
import { calendarPeriod } from "./calendar-period.ts";
import { budgetAccountId } from "./scoped-budgets.ts";

/** One budget as `usertrust budget` shows it. */
export interface BudgetLine {
  /** "vault" for the vault's own budget, else the scoped budget's ledger account. */
  name: string;
  scope: string | undefined;
  period: "day" | "week" | "month" | "none";
  /** The current period's key ("2026-12-04", "2026-W49", "2026-12"); undefined when it never resets. */
  periodKey: string | undefined;
  timeZone: string | undefined;
  limitUsertokens: number;
  spentUsertokens: number;
  heldUsertokens: number;
  remainingUsertokens: number;
  /** When the current period ends and the budget starts again from zero (ISO 8601). */
  resetsAt: string | undefined;
}

export type BudgetReport = BudgetLine[];

/**
 * Reads every configured budget from the ledger at `nowMs`. A scoped budget shows the limit the
 * config gives it now (the next hold stores it); a period no call has used yet shows nothing spent.
 */
export async function budgetReport(
  ledger: Ledger,
  config: TrustConfig,
  nowMs: number,
): Promise<BudgetReport> {
  const vault = await ledger.balance();
  const lines: BudgetReport = [
    {
      name: "vault",
      scope: undefined,
      period: "none",
      periodKey: undefined,
      timeZone: undefined,
      limitUsertokens: vault.budgetUsertokens,
      spentUsertokens: vault.postedUsertokens,
      heldUsertokens: vault.pendingUsertokens,
      remainingUsertokens: vault.remainingUsertokens,
      resetsAt: undefined,
    },
  ];
  for (const budget of config.budgets) {
    const period = calendarPeriod(nowMs, budget.period, budget.timeZone);
    const name = budgetAccountId(budget, period);
    const stored = await ledger.accountBalance(name);
    const balance = makeBalance(budget.limit, stored?.postedUsertokens ?? 0, stored?.pendingUsertokens ?? 0);
    lines.push({
      name,
      scope: budget.scope,
      period: budget.period,
      periodKey: budget.period === "none" ? undefined : period.key,
      timeZone: budget.timeZone,
      limitUsertokens: balance.budgetUsertokens,
      spentUsertokens: balance.postedUsertokens,
      heldUsertokens: balance.pendingUsertokens,
      remainingUsertokens: balance.remainingUsertokens,
      resetsAt: period.endsAtMs === undefined ? undefined : new Date(period.endsAtMs).toISOString(),
    });
  }
  return lines;
}
