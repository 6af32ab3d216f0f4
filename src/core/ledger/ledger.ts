/**
 * The ledger port: the single source of truth for what is spent and held. Every adapter keeps the
 * same semantics (a shared conformance suite checks them):
 * - ids are idempotent: a retried reserve, post or void with the same id is a no-op, never a double spend;
 * - reserve is atomic and fails with BudgetExceededError when budget − posted − pending < amount;
 * - post takes at most the held amount; any excess is returned as a shortfall, never silently dropped;
 * - a pending hold stops counting once its timeout passes, so a crashed caller never locks budget.
 */
/** A check of a new hold against the wallet's numbers without it; throws to refuse (see Ledger.reserve). */
export type Admit = (before: LedgerBalance) => void;

export interface Ledger {
  readonly kind: string;
  setBudget(budgetUsertokens: number): Promise<void>;
  /**
   * Holds the amount on the wallet and on every listed budget account, all or nothing: when any
   * of them lacks room nothing is held and BudgetExceededError names the one that refused. An
   * account is created on first use with its limit; a different limit later replaces it (an
   * adapter may apply a named limit even when the hold is refused: limits come from the config).
   */
  reserve(
    holdId: string,
    amountUsertokens: number,
    timeoutSeconds: number,
    accounts?: readonly BudgetAccount[],
    admit?: Admit,
  ): Promise<LedgerBalance>;
  /**
   * How reserve runs `admit` (a check of a new hold against the wallet's numbers without it; a
   * throw refuses the hold), so calls made at once are each judged with the holds placed before them:
   * - "inside" (SQLite, memory): in the reserve's atomic step, before the adapter's own budget
   *   check; a refusal places nothing.
   * - "after" (PostgreSQL): on the numbers the reserve's atomic step returned, right after it; a
   *   refused hold is voided at once (or, failing that, before the next reserve and at close), and
   *   a call racing with it may count it for that moment.
   * Only for a new hold: a retried id is not judged. When the ledger itself refuses, `admit` still
   * runs on the numbers it saw, so a rule's refusal is the one reported. Absent: `admit` is ignored.
   */
  readonly admits?: "inside" | "after";
  /**
   * `withinCommit` runs inside the post's atomic step where the adapter can (SQLite: the same
   * transaction, so the audit event commits with the spend), otherwise right after it has committed
   * (PostgreSQL, TigerBeetle): never for a post that did not commit. It must not throw.
   */
  post(holdId: string, amountUsertokens: number, withinCommit?: WithinCommit): Promise<PostResult>;
  /** `withinCommit` as for post: the void's audit event commits with it where the adapter can. */
  void(holdId: string, withinCommit?: () => void): Promise<LedgerBalance>;
  balance(): Promise<LedgerBalance>;
  /**
   * Whether the wallet has been given a budget yet, read without creating anything (no schema, no
   * row), so a read-only tool can tell "no ledger yet" from a budget of 0. Absent: the adapter
   * cannot tell without creating its store.
   */
  hasWallet?(): Promise<boolean>;
  /** A budget account's numbers (its limit as budget), or undefined when no hold ever used it. */
  accountBalance(accountId: string): Promise<LedgerBalance | undefined>;
  holdState(holdId: string): Promise<HoldState | undefined>;
  close(): Promise<void>;
}

export type WithinCommit = (result: PostResult) => void;

export type HoldState = "pending" | "posted" | "voided" | "expired";

export interface LedgerBalance {
  budgetUsertokens: number;
  postedUsertokens: number;
  /** Held by pending, unexpired holds. */
  pendingUsertokens: number;
  /** budget − posted − pending; never negative. */
  remainingUsertokens: number;
}

/**
 * A scoped budget for one period, e.g. `team-a/**` for 2026-12-04 in Europe/Paris. Its id is
 * stable for that scope and period, so every process holding against it meets the same account.
 */
export interface BudgetAccount {
  readonly id: string;
  readonly limitUsertokens: number;
}

/** A budget account's numbers right after a post or void touched it. */
export interface AccountBalance {
  readonly id: string;
  readonly balance: LedgerBalance;
}

export interface PostResult {
  postedUsertokens: number;
  /** Cost above what could be posted (the hold, or for a late settle what the budget had left). */
  shortfallUsertokens: number;
  /** The hold had expired before the post; what was posted was taken from the budget still free. */
  lateSettle: boolean;
  balance: LedgerBalance;
  /** The same amount is posted on every budget account the hold was placed on; their numbers after it. */
  accounts: AccountBalance[];
}

/** Milliseconds since the epoch; injected so tests can move time. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** Ledger amounts are whole usertokens; anything else is a bug upstream, caught at the boundary. */
export function assertUsertokens(name: string, amount: number): void {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new RangeError(`${name} must be a non-negative whole number of usertokens, got ${amount}`);
  }
}

/** A hold must expire, or a crashed caller would lock budget forever. */
export function assertTimeoutSeconds(timeoutSeconds: number): void {
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new RangeError(`hold timeout must be a positive, finite number of seconds, got ${timeoutSeconds}`);
  }
}

export function makeBalance(budget: number, posted: number, pending: number): LedgerBalance {
  return {
    budgetUsertokens: budget,
    postedUsertokens: posted,
    pendingUsertokens: pending,
    remainingUsertokens: Math.max(0, budget - posted - pending),
  };
}
