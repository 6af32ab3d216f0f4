import { type LedgerBalance, makeBalance } from "./ledger.ts";
import { type BudgetState, budgetAccountIds, budgetStates } from "./tigerbeetle-budgets.ts";
import type { TigerBeetleCluster } from "./tigerbeetle-cluster.ts";
import type { BudgetIds } from "./tigerbeetle-ids.ts";

/** Budgets' numbers read from the cluster, and turned into usertokens (or an inconsistency error). */
export class BudgetReads {
  readonly #cluster: TigerBeetleCluster;

  constructor(cluster: TigerBeetleCluster) {
    this.#cluster = cluster;
  }

  /** Every budget's numbers from one lookup, so they are consistent with each other. */
  async read(budgets: readonly BudgetIds[]): Promise<(BudgetState | undefined)[]> {
    return budgetStates(budgets, await this.#cluster.lookupAccounts(budgetAccountIds(budgets)));
  }

  /**
   * As `read`, for a hold's budgets (the wallet first), whose accounts must exist: one missing means
   * the ledger was changed by another program.
   */
  async present(budgets: readonly BudgetIds[]): Promise<{ wallet: BudgetState; states: BudgetState[] }> {
    const states = (await this.read(budgets)).map((state, index) => {
      if (state !== undefined) return state;
      throw this.#cluster.inconsistent(
        `the accounts of ${index === 0 ? "the wallet" : "a budget account"} are missing`,
      );
    });
    const wallet = states[0];
    if (wallet === undefined) throw new RangeError("a read of a hold's budgets must include the wallet");
    return { wallet, states };
  }

  balanceOf(state: BudgetState): LedgerBalance {
    return makeBalance(
      this.usertokens(state.limit, "budget"),
      this.usertokens(state.spent, "spend"),
      this.usertokens(state.pending, "held amount"),
    );
  }

  usertokens(value: bigint, what: string): number {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.#cluster.inconsistent(`its ${what} is ${value}, which is not a whole number of usertokens`);
    }
    return Number(value);
  }
}
