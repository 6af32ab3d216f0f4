import {
  BudgetExceededError,
  ClientDestroyedError,
  HoldStateError,
  LedgerUnavailableError,
} from "../errors.ts";
import { type Durability, VaultDatabase } from "../vault-database.ts";
import {
  type AccountBalance,
  type Admit,
  assertTimeoutSeconds,
  assertUsertokens,
  type BudgetAccount,
  type Clock,
  type HoldState,
  type Ledger,
  type LedgerBalance,
  makeBalance,
  type PostResult,
  systemClock,
  type WithinCommit,
} from "./ledger.ts";
import { prepareStatements, SCHEMA, WALLET } from "./sqlite-statements.ts";

interface HoldRow {
  amount: number;
  expires_at_ms: number;
  state: HoldState;
  posted: number | null;
  shortfall: number | null;
  late_settle: number;
}

/**
 * The embedded durable ledger: tables in the vault's SQLite file (WAL). Every operation is one short
 * `BEGIN IMMEDIATE` transaction, which SQLite serializes across every process on the machine,
 * so many processes on one vault share one budget. Never hold a transaction across an await.
 */
export class SqliteLedger implements Ledger {
  readonly kind = "sqlite";
  readonly admits = "inside";
  readonly #database: VaultDatabase;
  readonly #ownsDatabase: boolean;
  readonly #clock: Clock;
  readonly #sql: ReturnType<typeof prepareStatements>;
  /**
   * Holds this instance is reserving or has reserved and not ended: a hint that calls overlap,
   * never used for money. A reserve counts from the moment it starts, so calls that all start in
   * one turn of the event loop (a Promise.all of calls) share a commit after the first.
   */
  #openHolds = 0;
  /** Holds this instance placed on no budget account and has not ended: their posts skip the lookup. */
  readonly #accountless = new Set<string>();
  #closed = false;

  /**
   * Opens the ledger in `database` (shared with the audit chain, which the engine closes) or in
   * its own connection to `path`. Without `budgetUsertokens` the stored budget is kept and
   * nothing is written (read-only use such as `usertrust status`).
   */
  constructor(options: {
    path?: string;
    database?: VaultDatabase;
    budgetUsertokens?: number;
    durability?: Durability;
    clock?: Clock;
  }) {
    if (options.budgetUsertokens !== undefined) assertUsertokens("budget", options.budgetUsertokens);
    this.#clock = options.clock ?? systemClock;
    this.#ownsDatabase = options.database === undefined;
    const path = options.database?.path ?? options.path ?? "";
    try {
      this.#database = options.database ?? new VaultDatabase(path, options.durability ?? "normal");
    } catch (error) {
      throw cannotOpen(path, error);
    }
    try {
      this.#database.setup(SCHEMA);
      this.#sql = prepareStatements(this.#database.db);
      if (options.budgetUsertokens !== undefined) {
        this.#writeBudget(options.budgetUsertokens);
        // Holds that expired while no process was running are labelled once, by a writer (each
        // reserve also labels the ones it stops counting).
        this.#transaction((now) => this.#sweepExpired(now));
      }
    } catch (error) {
      if (this.#ownsDatabase) this.#database.close();
      throw cannotOpen(path, error);
    }
  }

  async setBudget(budgetUsertokens: number): Promise<void> {
    this.#open();
    assertUsertokens("budget", budgetUsertokens);
    this.#writeBudget(budgetUsertokens);
    await this.#durable();
  }

  async reserve(
    holdId: string,
    amountUsertokens: number,
    timeoutSeconds: number,
    accounts: readonly BudgetAccount[] = [],
    admit?: Admit,
  ): Promise<LedgerBalance> {
    this.#open();
    assertUsertokens("hold amount", amountUsertokens);
    assertTimeoutSeconds(timeoutSeconds);
    for (const account of accounts) assertUsertokens(`limit of ${account.id}`, account.limitUsertokens);
    // Other calls of this process in flight: queue with them so overlapping calls share a commit.
    const batch = this.#openHolds > 0;
    this.#openHolds++;
    let placed = false;
    const balance = await this.#run(batch, (now) => {
      const expiresAtMs = now + timeoutSeconds * 1000;
      const inserted = this.#sql.insertHold.run(holdId, WALLET, amountUsertokens, now, expiresAtMs);
      // No wallet row (a ledger opened without a budget, as `usertrust status` does): budget 0.
      const { budget, posted, pending, expired } = (this.#sql.reserveTotals.get(now, now, WALLET) as
        | { budget: number; posted: number; pending: number; expired: number }
        | undefined) ?? { budget: 0, posted: 0, pending: amountUsertokens, expired: 0 };
      // Holds this reserve no longer counts are marked expired in the same step, so a post that
      // comes later (after the clock stepped back, say) takes the late path, which checks for room,
      // instead of spending room this reserve may hand out again. Normally there are none, and
      // looking is cheaper than an UPDATE that matches nothing.
      if (expired === 1) this.#sweepExpired(now);
      if (inserted.changes === 1) {
        // `pending` already includes this hold; throwing rolls the insert back.
        admit?.(makeBalance(budget, posted, pending - amountUsertokens));
        const remaining = budget - posted - (pending - amountUsertokens);
        if (remaining < amountUsertokens)
          throw new BudgetExceededError(amountUsertokens, Math.max(0, remaining));
        for (const [position, account] of accounts.entries()) {
          this.#holdOnAccount(holdId, account, position, amountUsertokens, expiresAtMs, now);
        }
        placed = true;
      }
      return makeBalance(budget, posted, pending);
    }).catch((error: unknown) => {
      this.#openHolds--;
      throw error;
    });
    if (placed && accounts.length === 0) this.#accountless.add(holdId);
    await this.#durable();
    return balance;
  }

  /** Inside reserve's transaction: a throw rolls back the whole hold, on the wallet and every account. */
  #holdOnAccount(
    holdId: string,
    account: BudgetAccount,
    position: number,
    amountUsertokens: number,
    expiresAtMs: number,
    now: number,
  ): void {
    this.#sql.upsertAccount.run(account.id, account.limitUsertokens);
    const { limit, posted, pending } = this.#accountTotals(account.id, now);
    const remaining = limit - posted - pending;
    if (remaining < amountUsertokens)
      throw new BudgetExceededError(amountUsertokens, Math.max(0, remaining), account.id);
    this.#sql.insertHoldAccount.run(holdId, account.id, position, amountUsertokens, expiresAtMs);
  }

  async post(holdId: string, amountUsertokens: number, withinCommit?: WithinCommit): Promise<PostResult> {
    this.#open();
    assertUsertokens("post amount", amountUsertokens);
    const result = await this.#run(this.#openHolds > 1, (now): PostResult => {
      const posted = this.#post(holdId, amountUsertokens, now);
      withinCommit?.(posted);
      return posted;
    });
    this.#openHolds = Math.max(0, this.#openHolds - 1);
    await this.#durable();
    return result;
  }

  #post(holdId: string, amountUsertokens: number, now: number): PostResult {
    const hold = this.#sql.hold.get(holdId) as HoldRow | undefined;
    if (hold?.state !== "pending" || hold.expires_at_ms <= now)
      return this.#postSlow(holdId, amountUsertokens, now, hold);
    const posted = Math.min(hold.amount, amountUsertokens);
    const shortfall = amountUsertokens - posted;
    this.#sql.postLive.run(posted, shortfall, now, holdId);
    this.#sql.addPosted.run(posted, WALLET);
    return {
      postedUsertokens: posted,
      shortfallUsertokens: shortfall,
      lateSettle: false,
      balance: this.#balanceAt(now),
      accounts: this.#postOnAccounts(holdId, posted, now),
    };
  }

  /** The hold's budget accounts take the same amount as the wallet; their rows stop counting as pending. */
  #postOnAccounts(holdId: string, posted: number, now: number): AccountBalance[] {
    if (this.#accountless.delete(holdId)) return [];
    const ids = this.#holdAccountIds(holdId);
    if (ids.length === 0) return [];
    this.#sql.addAccountPosted.run(posted, holdId);
    this.#sql.closeHoldAccounts.run(holdId);
    return ids.map((id) => ({ id, balance: this.#accountBalanceAt(id, now) }));
  }

  #holdAccountIds(holdId: string): string[] {
    return (this.#sql.holdAccounts.all(holdId) as { account: string }[]).map((row) => row.account);
  }

  async void(holdId: string, withinCommit?: () => void): Promise<LedgerBalance> {
    this.#open();
    this.#accountless.delete(holdId);
    const balance = await this.#run(this.#openHolds > 1, (now) => {
      if (this.#sql.voidOpen.run(now, holdId).changes === 0) {
        const hold = this.#existing(holdId);
        if (hold.state === "posted")
          throw new HoldStateError(`hold ${holdId} was posted; it cannot be voided`);
      }
      this.#sql.closeHoldAccounts.run(holdId);
      withinCommit?.();
      return this.#balanceAt(now);
    });
    this.#openHolds = Math.max(0, this.#openHolds - 1);
    await this.#durable();
    return balance;
  }

  async balance(): Promise<LedgerBalance> {
    this.#open();
    return this.#balanceAt(this.#clock());
  }

  async accountBalance(accountId: string): Promise<LedgerBalance | undefined> {
    this.#open();
    const now = this.#clock();
    if (this.#sql.account.get(accountId) === undefined) return undefined;
    return this.#accountBalanceAt(accountId, now);
  }

  async holdState(holdId: string): Promise<HoldState | undefined> {
    this.#open();
    const hold = this.#sql.hold.get(holdId) as HoldRow | undefined;
    if (hold?.state === "pending" && hold.expires_at_ms <= this.#clock()) return "expired";
    return hold?.state;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsDatabase) this.#database.close();
  }

  #transaction<T>(work: (nowMs: number) => T): T {
    try {
      return this.#database.transaction(() => work(this.#clock()));
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  /** Runs one ledger step now, or queued with the other steps of this turn when calls overlap. */
  async #run<T>(batch: boolean, work: (nowMs: number) => T): Promise<T> {
    if (!batch) return this.#transaction(work);
    try {
      return await this.#database.batched(() => work(this.#clock()));
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  #unavailable(error: unknown): unknown {
    if (error instanceof Error && (error as { code?: unknown }).code === "ERR_SQLITE_ERROR") {
      return new LedgerUnavailableError(
        `The ledger at ${this.#database.path} failed: ${error.message}. Another process may hold it locked ` +
          "for longer than 10 s, or the disk is full or read-only.",
        { cause: error },
      );
    }
    return error;
  }

  /** A hold that is not live: already posted (idempotent replay), voided, expired (late settle) or unknown. */
  #postSlow(holdId: string, amountUsertokens: number, now: number, row: HoldRow | undefined): PostResult {
    const hold = this.#existing(holdId, row);
    if (hold.state === "voided") throw new HoldStateError(`hold ${holdId} was voided; it cannot be posted`);
    if (hold.state === "posted") {
      return {
        postedUsertokens: hold.posted ?? 0,
        shortfallUsertokens: hold.shortfall ?? 0,
        lateSettle: hold.late_settle === 1,
        balance: this.#balanceAt(now),
        accounts: this.#holdAccountIds(holdId).map((id) => ({
          id,
          balance: this.#accountBalanceAt(id, now),
        })),
      };
    }
    // Expired: the call really happened, so post what the wallet and every account still have
    // free, never more.
    const { budget, posted: spent, pending } = this.#totals(now);
    let posted = Math.min(amountUsertokens, hold.amount, Math.max(0, budget - spent - pending));
    for (const id of this.#holdAccountIds(holdId)) {
      const account = this.#accountTotals(id, now);
      posted = Math.min(posted, Math.max(0, account.limit - account.posted - account.pending));
    }
    const shortfall = amountUsertokens - posted;
    this.#sql.postLate.run(posted, shortfall, now, holdId);
    this.#sql.addPosted.run(posted, WALLET);
    return {
      postedUsertokens: posted,
      shortfallUsertokens: shortfall,
      lateSettle: true,
      balance: this.#balanceAt(now),
      accounts: this.#postOnAccounts(holdId, posted, now),
    };
  }

  /** Marks the wallet's holds that expired by `now` as expired; they stop counting on their accounts too. */
  #sweepExpired(now: number): void {
    this.#sql.closeExpiredHoldAccounts.run(WALLET, now);
    this.#sql.sweepExpired.run(now, WALLET, now);
  }

  #writeBudget(budgetUsertokens: number): void {
    this.#transaction(() => this.#sql.upsertBudget.run(WALLET, budgetUsertokens));
  }

  #existing(holdId: string, row?: HoldRow): HoldRow {
    const hold = row ?? (this.#sql.hold.get(holdId) as HoldRow | undefined);
    if (hold === undefined) throw new HoldStateError(`no hold with id ${holdId} exists in this ledger`);
    return hold;
  }

  #totals(now: number): { budget: number; posted: number; pending: number } {
    const totals = this.#sql.totals.get(now, WALLET) as
      | { budget: number; posted: number; pending: number }
      | undefined;
    return totals ?? { budget: 0, posted: 0, pending: 0 };
  }

  #accountTotals(id: string, now: number): { limit: number; posted: number; pending: number } {
    const totals = this.#sql.accountTotals.get(now, id) as
      | { limit: number; posted: number; pending: number }
      | undefined;
    return totals ?? { limit: 0, posted: 0, pending: 0 };
  }

  #accountBalanceAt(id: string, now: number): LedgerBalance {
    const { limit, posted, pending } = this.#accountTotals(id, now);
    return makeBalance(limit, posted, pending);
  }

  #balanceAt(now: number): LedgerBalance {
    const { budget, posted, pending } = this.#totals(now);
    return makeBalance(budget, posted, pending);
  }

  #durable(): Promise<void> | undefined {
    return this.#database.sync();
  }

  #open(): void {
    if (this.#closed) throw new ClientDestroyedError();
  }
}

function cannotOpen(path: string, error: unknown): LedgerUnavailableError {
  return new LedgerUnavailableError(
    `Cannot open the ledger at ${path}: ${(error as Error).message}. ` +
      "Check that the vault folder is writable and the file is a usertrust ledger.",
    { cause: error },
  );
}
