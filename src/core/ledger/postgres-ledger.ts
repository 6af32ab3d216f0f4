import { BudgetExceededError, ClientDestroyedError, HoldStateError } from "../errors.ts";
import {
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
  type WithinCommit,
} from "./ledger.ts";
import { PostgresConnection } from "./postgres-connection.ts";
import { assertSchemaName, migrate, quoteIdentifier } from "./postgres-migrations.ts";
import {
  type AccountReserveRow,
  type BalanceRow,
  type PostRow,
  type ReserveRow,
  readBalance,
  readPostResult,
  readUsertokens,
  type VoidRow,
} from "./postgres-rows.ts";
import { statementsFor } from "./postgres-statements.ts";

export interface PostgresLedgerOptions {
  /** `postgres://user:password@host:port/database`; errors name the host, never the password. */
  url: string;
  /** Sets the wallet's budget on first use; without it the stored budget is kept and nothing is written. */
  budgetUsertokens?: number;
  /**
   * Only for tests that move time by hand. Without it every step reads the database server's own
   * clock, so all hosts agree on when a hold expires however far their clocks drift apart.
   */
  clock?: Clock;
  /** Schema holding the ledger's tables, created on first use. Default "usertrust". */
  schema?: string;
  /** The budget this ledger draws on; every ledger on the same schema and wallet shares it. Default "default". */
  walletId?: string;
  /**
   * Connections this process opens at most (default 4); a fleet needs processes × poolSize ≤ the
   * server's max_connections. Calls beyond it queue, and fail after 5 s without a connection.
   */
  poolSize?: number;
}

const POOL_SIZE_DEFAULT = 4;
const POOL_SIZE_MAX = 100;
const WALLET_ID_LENGTH_MAX = 200;
/** Bounds the rows one reserve locks; a hold meets a handful of scoped budgets, not dozens. */
const ACCOUNTS_PER_HOLD_MAX = 32;
const ACCOUNT_ID_LENGTH_MAX = 500;

/**
 * A ledger many hosts share: tables in a PostgreSQL schema. Each reserve, post and void is one
 * call of a server-side function that locks the wallet row, so reservers in every process are
 * serialized and the budget is never overspent. Time comes from the database server's clock (one
 * clock for the whole fleet: were each host to use its own, a host whose clock ran ahead could treat
 * another's live hold as expired and spend its room twice), or from an injected clock in tests.
 *
 * Budget accounts are global within the schema: an account id names one account for every ledger
 * on that schema, whatever its walletId, so a scoped budget such as `team-a/** day 2026-12-04` is
 * shared by every process and wallet that lists it. A hold on accounts also locks their rows (in id
 * order, so processes listing the same accounts in different orders cannot deadlock); a hold on
 * none takes no account lock, and its reserve runs the same function as before accounts existed.
 *
 * The `pg` package is an optional peer: it is imported on first use, so usertrust loads without it.
 */
export class PostgresLedger implements Ledger {
  readonly kind = "postgres";
  readonly admits = "after";
  /** Names this ledger in messages: server and schema, never the password. */
  readonly #where: string;
  readonly #walletId: string;
  readonly #clock: Clock | undefined;
  readonly #sql: ReturnType<typeof statementsFor>;
  readonly #db: PostgresConnection;
  #closed = false;
  /** Holds `admit` refused whose void failed: voided before the next reserve, and at close. */
  readonly #refused = new Set<string>();

  /** Validates the options only; the connection and the tables are made by the first call. */
  constructor(options: PostgresLedgerOptions) {
    if (options.budgetUsertokens !== undefined) assertUsertokens("budget", options.budgetUsertokens);
    const schema = options.schema ?? "usertrust";
    assertSchemaName(schema);
    const walletId = options.walletId ?? "default";
    if (walletId.length === 0 || walletId.length > WALLET_ID_LENGTH_MAX) {
      throw new RangeError(`walletId must be 1–${WALLET_ID_LENGTH_MAX} characters, got ${walletId.length}`);
    }
    const poolSize = options.poolSize ?? POOL_SIZE_DEFAULT;
    if (!Number.isSafeInteger(poolSize) || poolSize < 1 || poolSize > POOL_SIZE_MAX) {
      throw new RangeError(`poolSize must be a whole number from 1 to ${POOL_SIZE_MAX}, got ${poolSize}`);
    }
    this.#walletId = walletId;
    this.#clock = options.clock;
    const sql = statementsFor(quoteIdentifier(schema));
    this.#sql = sql;
    const initialBudget = options.budgetUsertokens;
    this.#db = new PostgresConnection({
      url: options.url,
      schema,
      walletId,
      poolSize,
      prepare: async (client) => {
        await migrate(client, schema);
        if (initialBudget !== undefined) {
          await client.query({ ...sql.upsertBudget, values: [walletId, initialBudget] });
        }
      },
    });
    this.#where = `The PostgreSQL ledger at ${this.#db.server} (schema "${schema}")`;
  }

  async setBudget(budgetUsertokens: number): Promise<void> {
    this.#open();
    assertUsertokens("budget", budgetUsertokens);
    await this.#db.query(this.#sql.upsertBudget, [this.#walletId, budgetUsertokens]);
  }

  /**
   * `admit` runs after the reserve function, on the numbers it computed under the wallet lock
   * (Ledger.admits "after"): a hold it refuses is voided at once.
   */
  async reserve(
    holdId: string,
    amountUsertokens: number,
    timeoutSeconds: number,
    accounts: readonly BudgetAccount[] = [],
    admit?: Admit,
  ): Promise<LedgerBalance> {
    this.#open();
    assertStorableText("hold id", holdId);
    assertUsertokens("hold amount", amountUsertokens);
    assertTimeoutSeconds(timeoutSeconds);
    assertAccounts(accounts);
    if (this.#refused.size > 0) await this.#voidRefused();
    const timeoutMs = Math.min(Number.MAX_SAFE_INTEGER, Math.ceil(timeoutSeconds * 1000));
    const values = [this.#walletId, holdId, amountUsertokens, this.#nowMs(), timeoutMs];
    const row: ReserveRow & Partial<AccountReserveRow> =
      accounts.length === 0
        ? await this.#db.queryOne<ReserveRow>(this.#sql.reserve, values)
        : await this.#db.queryOne<AccountReserveRow>(this.#sql.reserveOnAccounts, [
            ...values,
            accounts.map((account) => account.id),
            accounts.map((account) => account.limitUsertokens),
          ]);
    const balance = readBalance(row, this.#where);
    if (!row.granted) {
      // Nothing was held: the wallet's numbers are those without this hold.
      admit?.(balance);
      const account = row.refused_account ?? null;
      if (account === null) throw new BudgetExceededError(amountUsertokens, balance.remainingUsertokens);
      const accountRemaining = readUsertokens(row.account_remaining_ut ?? null, this.#where);
      throw new BudgetExceededError(amountUsertokens, accountRemaining, account);
    }
    if (admit !== undefined && !row.existed) {
      const { budgetUsertokens, postedUsertokens, pendingUsertokens } = balance;
      try {
        admit(makeBalance(budgetUsertokens, postedUsertokens, pendingUsertokens - amountUsertokens));
      } catch (error) {
        await this.#voidRefusedHold(holdId);
        throw error;
      }
    }
    return balance;
  }

  /** A hold `admit` refused: voided now, retried once (a dropped connection), else kept for later. */
  async #voidRefusedHold(holdId: string): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.void(holdId);
        return;
      } catch (error) {
        if (error instanceof HoldStateError) return;
      }
    }
    this.#refused.add(holdId);
  }

  /** Voids the refused holds a failed void left pending; those that fail again wait for the next try. */
  async #voidRefused(): Promise<void> {
    for (const holdId of [...this.#refused]) {
      try {
        await this.void(holdId);
        this.#refused.delete(holdId);
      } catch (error) {
        if (error instanceof HoldStateError) this.#refused.delete(holdId);
      }
    }
  }

  /**
   * `withinCommit` runs once the post has committed (PostgresConnection.step): never for a post
   * whose commit failed; a retried post of a committed hold replays its result and runs it then.
   */
  async post(holdId: string, amountUsertokens: number, withinCommit?: WithinCommit): Promise<PostResult> {
    this.#open();
    assertStorableText("hold id", holdId);
    assertUsertokens("post amount", amountUsertokens);
    const values = [this.#walletId, holdId, amountUsertokens, this.#nowMs()];
    return this.#db.step<PostRow, PostResult>(
      this.#sql.post,
      values,
      (row) => {
        if (row.outcome === "missing") throw missingHold(holdId);
        if (row.outcome === "voided")
          throw new HoldStateError(`hold ${holdId} was voided; it cannot be posted`);
        return readPostResult(row, this.#where);
      },
      withinCommit,
    );
  }

  async void(holdId: string, withinCommit?: () => void): Promise<LedgerBalance> {
    this.#open();
    assertStorableText("hold id", holdId);
    const values = [this.#walletId, holdId, this.#nowMs()];
    return this.#db.step<VoidRow, LedgerBalance>(
      this.#sql.void,
      values,
      (row) => {
        if (row.outcome === "missing") throw missingHold(holdId);
        if (row.outcome === "posted")
          throw new HoldStateError(`hold ${holdId} was posted; it cannot be voided`);
        return readBalance(row, this.#where);
      },
      withinCommit,
    );
  }

  async balance(): Promise<LedgerBalance> {
    this.#open();
    const rows = await this.#db.query<BalanceRow>(this.#sql.balance, [this.#walletId, this.#nowMs()]);
    const row = rows[0];
    return row === undefined ? makeBalance(0, 0, 0) : readBalance(row, this.#where);
  }

  /** Read without creating or upgrading the schema (Ledger.hasWallet); a schema with no ledger has no wallet. */
  async hasWallet(): Promise<boolean> {
    this.#open();
    const [ledger] = await this.#db.queryUnprepared<{ found: boolean }>(this.#sql.ledgerExists, []);
    if (ledger?.found !== true) return false;
    const [wallet] = await this.#db.queryUnprepared<{ found: boolean }>(this.#sql.walletExists, [
      this.#walletId,
    ]);
    return wallet?.found === true;
  }

  async accountBalance(accountId: string): Promise<LedgerBalance | undefined> {
    this.#open();
    const rows = await this.#db.query<BalanceRow>(this.#sql.accountBalance, [accountId, this.#nowMs()]);
    const row = rows[0];
    return row === undefined ? undefined : readBalance(row, this.#where);
  }

  async holdState(holdId: string): Promise<HoldState | undefined> {
    this.#open();
    const rows = await this.#db.query<{ state: HoldState; expired: boolean }>(this.#sql.hold, [
      this.#walletId,
      holdId,
      this.#nowMs(),
    ]);
    const hold = rows[0];
    if (hold?.state === "pending" && hold.expired) return "expired";
    return hold?.state;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#refused.size > 0) await this.#voidRefused();
    this.#closed = true;
    await this.#db.close();
  }

  /** Whole milliseconds (the columns are BIGINT), or null for the server's clock. */
  #nowMs(): number | null {
    return this.#clock === undefined ? null : Math.floor(this.#clock());
  }

  #open(): void {
    if (this.#closed) throw new ClientDestroyedError();
  }
}

/** Account lists come from config; a malformed one is a bug upstream, caught before any lock is taken. */
function assertAccounts(accounts: readonly BudgetAccount[]): void {
  if (accounts.length > ACCOUNTS_PER_HOLD_MAX) {
    throw new RangeError(
      `a hold may be placed on at most ${ACCOUNTS_PER_HOLD_MAX} budget accounts, got ${accounts.length}`,
    );
  }
  const seen = new Set<string>();
  for (const account of accounts) {
    if (account.id.length === 0 || account.id.length > ACCOUNT_ID_LENGTH_MAX) {
      throw new RangeError(
        `a budget account id must be 1–${ACCOUNT_ID_LENGTH_MAX} characters, got ${account.id.length}`,
      );
    }
    assertStorableText("budget account id", account.id);
    if (seen.has(account.id)) {
      throw new RangeError(`budget account ${account.id} is listed twice for one hold`);
    }
    seen.add(account.id);
    assertUsertokens(`limit of budget account ${account.id}`, account.limitUsertokens);
  }
}

/**
 * PostgreSQL text holds no NUL character, and the driver turns a lone surrogate into U+FFFD (so two
 * different ids could name one row): such ids are refused here, as bad input, not as a server fault.
 */
function assertStorableText(what: string, text: string): void {
  if (text.includes("\u0000") || !text.isWellFormed()) {
    throw new RangeError(`a ${what} must not contain NUL characters or lone UTF-16 surrogates`);
  }
}

function missingHold(holdId: string): HoldStateError {
  return new HoldStateError(`no hold with id ${holdId} exists in this ledger`);
}
