import type { Pool, PoolClient } from "pg";
import { LedgerUnavailableError, UsertrustError } from "../errors.ts";
import type { Statement } from "./postgres-statements.ts";

const CONNECT_TIMEOUT_MS = 5_000;
/** A step that waits longer than this for the wallet lock fails instead of stalling its caller. */
const STATEMENT_TIMEOUT_MS = 10_000;
/** Client-side bound for a server that stops answering mid-query. */
const QUERY_TIMEOUT_MS = 15_000;
const IDLE_TIMEOUT_MS = 10_000;
/** Raised by reserve_hold for a wallet no ledger has given a budget. */
const NO_WALLET_SQLSTATE = "P0002";
const DEADLOCK_SQLSTATE = "40P01";
/**
 * Server errors that mean the connection, not the SQL, failed: connection exceptions (class 08),
 * the server shutting down or starting (57P01–57P03), no connection slot left (53300).
 */
const CONNECTION_SQLSTATE = /^(08...|57P0[123]|53300)$/;

export interface PostgresConnectionOptions {
  url: string;
  schema: string;
  walletId: string;
  poolSize: number;
  /** Runs once on the first connection, before any statement (migrations, the initial budget). */
  prepare: (client: PoolClient) => Promise<void>;
}

/**
 * The PostgreSQL ledger's pool: connected (and prepared) on first use, retried after a failed
 * attempt, with every driver error turned into a LedgerUnavailableError that names the server,
 * schema and wallet, never the password.
 */
export class PostgresConnection {
  /** `host:port/database`, for messages. */
  readonly server: string;
  readonly #url: string;
  readonly #password: string;
  readonly #schema: string;
  readonly #walletId: string;
  readonly #poolSize: number;
  readonly #prepare: (client: PoolClient) => Promise<void>;
  /** The pool, made on first use; it connects lazily. */
  #pool: Promise<Pool> | undefined;
  /** The pool once `prepare` has run on it; a failed attempt is forgotten so the next call tries again. */
  #prepared: Promise<Pool> | undefined;

  constructor(options: PostgresConnectionOptions) {
    const { server, password } = describeServer(options.url);
    this.server = server;
    this.#url = options.url;
    this.#password = password;
    this.#schema = options.schema;
    this.#walletId = options.walletId;
    this.#poolSize = options.poolSize;
    this.#prepare = options.prepare;
  }

  /** Ends the pool, once any preparation in progress has ended. */
  async close(): Promise<void> {
    const pool = this.#pool;
    const preparing = this.#prepared;
    this.#pool = undefined;
    this.#prepared = undefined;
    await preparing?.catch(() => undefined);
    await (await pool?.catch(() => undefined))?.end().catch(() => undefined);
  }

  /**
   * Runs one money-moving function as its own transaction (one round trip, so its row locks are
   * never held across a network hop), then `withinCommit` once the server has committed it: a step
   * whose commit failed, or whose outcome is unknown (the connection dropped), reports nothing, and
   * its retry (an idempotent replay when the first did commit) reports it once.
   */
  async step<Row, Result>(
    statement: Statement,
    values: unknown[],
    interpret: (row: Row) => Result,
    withinCommit: ((result: Result) => void) | undefined,
  ): Promise<Result> {
    const result = interpret(await this.queryOne<Row>(statement, values));
    withinCommit?.(result);
    return result;
  }

  async query<Row>(statement: Statement, values: unknown[]): Promise<Row[]> {
    const pool = await this.#ready();
    try {
      const result = await pool.query({ ...statement, values });
      return result.rows as Row[];
    } catch (error) {
      throw this.#failed(error);
    }
  }

  async queryOne<Row>(statement: Statement, values: unknown[]): Promise<Row> {
    return this.#firstRow(await this.query<Row>(statement, values));
  }

  /** A read that must not create or upgrade the schema (read-only tools): runs without `prepare`. */
  async queryUnprepared<Row>(statement: Statement, values: unknown[]): Promise<Row[]> {
    const pool = await this.#created();
    try {
      const result = await pool.query({ ...statement, values });
      return result.rows as Row[];
    } catch (error) {
      throw isConnectionLoss(error) ? this.#cannotReach(error) : this.#failed(error);
    }
  }

  #firstRow<Row>(rows: Row[]): Row {
    const row = rows[0];
    if (row === undefined)
      throw new LedgerUnavailableError(`The PostgreSQL ledger at ${this.server} returned no row.`);
    return row;
  }

  #created(): Promise<Pool> {
    this.#pool ??= this.#createPool().catch((error: unknown) => {
      this.#pool = undefined;
      throw error;
    });
    return this.#pool;
  }

  #ready(): Promise<Pool> {
    this.#prepared ??= this.#prepareOnce().catch((error: unknown) => {
      this.#prepared = undefined;
      throw error;
    });
    return this.#prepared;
  }

  async #createPool(): Promise<Pool> {
    const pg = await loadPg();
    const pool = new pg.Pool({
      connectionString: this.#url,
      max: this.#poolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: IDLE_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      application_name: "usertrust",
      // Idle connections must not keep a CLI or a finished script alive.
      allowExitOnIdle: true,
    });
    // An idle connection that dies is dropped by the pool; the next call reconnects or fails with
    // LedgerUnavailableError. Without a listener the error would crash the process.
    pool.on("error", () => undefined);
    return pool;
  }

  async #prepareOnce(): Promise<Pool> {
    const pool = await this.#created();
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw this.#cannotReach(error);
    }
    try {
      await checkedOut(client, this.#prepare);
    } catch (error) {
      throw isConnectionLoss(error) ? this.#cannotReach(error) : this.#notPrepared(error);
    }
    return pool;
  }

  #cannotReach(error: unknown): UsertrustError {
    if (error instanceof UsertrustError) return error;
    return new LedgerUnavailableError(
      `Cannot reach the PostgreSQL ledger at ${this.server} (schema "${this.#schema}"): ${this.#reason(error)}. ` +
        `Check that the server is running and reachable from this host within ${CONNECT_TIMEOUT_MS / 1000} s, ` +
        "and that the url's user, password and database are right and the user may create the schema.",
      { cause: error },
    );
  }

  /** The server answered, but creating or upgrading the schema (or setting the budget) failed. */
  #notPrepared(error: unknown): UsertrustError {
    if (error instanceof UsertrustError) return error;
    return new LedgerUnavailableError(
      `Could not set up the PostgreSQL ledger in schema "${this.#schema}" at ${this.server}: ${this.#reason(error)}. ` +
        "The server was reached, but creating or upgrading the ledger's tables and functions in that schema " +
        "(or setting the wallet's budget) failed; a failed upgrade leaves the schema as it was. If the schema " +
        "holds another application's tables, give usertrust a schema of its own (the ledger config's \"schema\"); " +
        "if the user lacks rights, let it create tables and functions in the schema, or open the ledger once " +
        "as the schema's owner so it is upgraded.",
      { cause: error },
    );
  }

  #failed(error: unknown): unknown {
    if (error instanceof UsertrustError || error instanceof RangeError) return error;
    const code = (error as { code?: unknown }).code;
    if (code === NO_WALLET_SQLSTATE) {
      return new LedgerUnavailableError(
        `The PostgreSQL ledger at ${this.server} (schema "${this.#schema}"): ${this.#reason(error)}.`,
        { cause: error },
      );
    }
    if (code === DEADLOCK_SQLSTATE) {
      return new LedgerUnavailableError(
        `The PostgreSQL ledger at ${this.server} (schema "${this.#schema}", wallet "${this.#walletId}") rolled ` +
          `this step back: ${this.#reason(error)}, so nothing of it was kept. usertrust's own steps lock rows in one ` +
          "order and never deadlock each other, so another transaction on the ledger's tables (a query or tool run " +
          "by hand) locked them in another order. " +
          "Retry the call, and keep other transactions off the schema's tables.",
        { cause: error },
      );
    }
    return new LedgerUnavailableError(
      `The PostgreSQL ledger at ${this.server} (schema "${this.#schema}", wallet "${this.#walletId}") failed: ` +
        `${this.#reason(error)}. The server may be down, the connection lost, or the wallet or a budget account ` +
        `locked by another process for longer than ${STATEMENT_TIMEOUT_MS / 1000} s.`,
      { cause: error },
    );
  }

  /** The driver's message with the password masked, should a driver or server ever echo it. */
  #reason(error: unknown): string {
    const message = error instanceof Error ? error.message || error.constructor.name : String(error);
    return this.#password === "" ? message : message.replaceAll(this.#password, "***");
  }
}

/**
 * Runs `use` on a client checked out of the pool, then returns it. The pool listens for errors only
 * on idle clients: without this listener a connection dropped while the client is out would be an
 * uncaught 'error' that ends the process. A client that failed in any way is released with the
 * error, so the pool discards it rather than handing out a connection in an unknown state.
 */
async function checkedOut(client: PoolClient, use: (client: PoolClient) => Promise<void>): Promise<void> {
  let broken: Error | undefined;
  const onError = (error: Error): void => {
    broken ??= error;
  };
  client.on("error", onError);
  try {
    await use(client);
  } catch (error) {
    broken ??= error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    client.removeListener("error", onError);
    client.release(broken);
  }
}

/** Whether a driver error means the connection failed: driver errors carry no server severity. */
function isConnectionLoss(error: unknown): boolean {
  if (error instanceof UsertrustError) return false;
  const { severity, code } = error as { severity?: unknown; code?: unknown };
  if (typeof severity !== "string" || typeof code !== "string") return true;
  return CONNECTION_SQLSTATE.test(code);
}

async function loadPg(): Promise<typeof import("pg").default> {
  try {
    return (await import("pg")).default;
  } catch (error) {
    throw new LedgerUnavailableError(
      "The PostgreSQL ledger needs the `pg` package, which could not be loaded. " +
        "Install it next to usertrust with `npm install pg`.",
      { cause: error },
    );
  }
}

/** `host:port/database` for messages, and the password to mask; never the URL itself. */
function describeServer(url: string): { server: string; password: string } {
  try {
    const parsed = new URL(url);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
    const host = parsed.hostname === "" ? "localhost" : parsed.hostname;
    return {
      server: `${host}:${parsed.port === "" ? "5432" : parsed.port}${database === "" ? "" : `/${database}`}`,
      password: decodeURIComponent(parsed.password),
    };
  } catch {
    return { server: "the configured PostgreSQL server", password: "" };
  }
}
