import { BudgetExceededError } from "../errors.ts";
import { type Admit, type BudgetAccount, type Ledger, type LedgerBalance, makeBalance } from "./ledger.ts";

export interface HoldToPlace {
  holdId: string;
  amountUsertokens: number;
  timeoutSeconds: number;
  accounts: readonly BudgetAccount[];
}

/**
 * Places a hold after `admit` (the policy rules that read only the budget) accepts the wallet's
 * numbers without it, as close to atomically as the ledger allows, so calls made at once are each
 * judged with the holds placed before them rather than all on one earlier read:
 * - inside the reserve's own atomic step where the ledger can (Ledger.admitsInReserve: SQLite,
 *   memory): a refused hold is never placed;
 * - otherwise right after the reserve, on the numbers it returned from its atomic step
 *   (Ledger.reserveBalanceIsAtomic: PostgreSQL). A refused hold is voided at once; a call racing
 *   with it may count it for that moment and be refused too: the rules can refuse too much at that
 *   instant, never admit too much.
 * A ledger that can do neither (TigerBeetle reads its numbers before the transfer) is judged on a
 * balance read after the hold, which also counts holds placed after it: safe, but in a burst most
 * calls refuse each other, so the engine reads the balance before the checks for such a ledger.
 * When the ledger itself refuses, the rules are judged on the balance then, so a rule's refusal is
 * the one reported, as when they run inside the reserve.
 */
export async function reserveAdmitting(
  ledger: Ledger,
  hold: HoldToPlace,
  admit: Admit | undefined,
): Promise<LedgerBalance> {
  const { holdId, amountUsertokens, timeoutSeconds, accounts } = hold;
  if (admit === undefined || ledger.admitsInReserve === true) {
    return ledger.reserve(holdId, amountUsertokens, timeoutSeconds, accounts, admit);
  }
  let placed: LedgerBalance;
  try {
    placed = await ledger.reserve(holdId, amountUsertokens, timeoutSeconds, accounts);
  } catch (error) {
    if (error instanceof BudgetExceededError) {
      const now = await ledger.balance().catch(() => undefined);
      if (now !== undefined) admit(now);
    }
    throw error;
  }
  try {
    const withHold = ledger.reserveBalanceIsAtomic === true ? placed : await ledger.balance();
    admit(
      makeBalance(
        withHold.budgetUsertokens,
        withHold.postedUsertokens,
        withHold.pendingUsertokens - amountUsertokens,
      ),
    );
  } catch (error) {
    // A void that fails leaves the hold to expire: budget held a while longer, never spent.
    await ledger.void(holdId).catch(() => {});
    throw error;
  }
  return placed;
}
