import type { Account } from "tigerbeetle-node";
import type { BudgetIds } from "./tigerbeetle-ids.ts";
import { ACCOUNT_CODE, accountOf, DEBITS_MUST_NOT_EXCEED_CREDITS } from "./tigerbeetle-wire.ts";

/** One budget's numbers, as read from its three accounts in one lookup. */
export interface BudgetState {
  /** The budget as configured. */
  limit: bigint;
  spent: bigint;
  pending: bigint;
  /** All the spendable account was ever funded with. */
  funded: bigint;
  /** All the spendable account gave back when its budget fell. */
  returned: bigint;
}

/** The accounts to create for a budget; creating them again is harmless (`exists`). */
export function budgetAccounts(ids: BudgetIds, ledger: number): Account[] {
  return [
    accountOf(ids.spendable, ledger, ACCOUNT_CODE.spendable, DEBITS_MUST_NOT_EXCEED_CREDITS),
    accountOf(ids.spent, ledger, ACCOUNT_CODE.spent, 0),
    accountOf(ids.limit, ledger, ACCOUNT_CODE.limit, 0),
  ];
}

/** Every account of these budgets, for one lookupAccounts, so their numbers agree with each other. */
export function budgetAccountIds(budgets: readonly BudgetIds[]): bigint[] {
  return budgets.flatMap((budget) => [budget.spendable, budget.spent, budget.limit]);
}

/** Each budget's state from a lookup's answer; undefined for a budget whose accounts do not exist. */
export function budgetStates(
  budgets: readonly BudgetIds[],
  found: readonly Account[],
): (BudgetState | undefined)[] {
  const byId = new Map(found.map((account) => [account.id, account]));
  return budgets.map((budget) => {
    const spendable = byId.get(budget.spendable);
    const spent = byId.get(budget.spent);
    const limit = byId.get(budget.limit);
    if (spendable === undefined || spent === undefined || limit === undefined) return undefined;
    return {
      limit: limit.credits_posted - limit.debits_posted,
      spent: spent.credits_posted,
      pending: spendable.debits_pending,
      funded: spendable.credits_posted,
      returned: spendable.debits_posted - spent.credits_posted,
    };
  });
}

/** What the budget has room for: limit − spent − held, never below zero. */
export function freeOf(state: BudgetState): bigint {
  const free = state.limit - state.spent - state.pending;
  return free > 0n ? free : 0n;
}

/**
 * The first budget (the wallet first) whose limit − spent − held, unclamped, is below the amount.
 * The cluster cannot make this check for a budget lowered below what it spent: its spendable account
 * stops at 0, and a 0 UT pending transfer never makes debits exceed credits.
 */
export function shortBudget(states: readonly BudgetState[], amount: bigint): number | undefined {
  const index = states.findIndex((state) => state.limit - state.spent - state.pending < amount);
  return index === -1 ? undefined : index;
}
