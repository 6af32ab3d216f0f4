import type { Pool, PoolClient } from "pg";
import { LedgerUnavailableError, UsertrustError } from "../errors.ts";
import { BEGIN, COMMIT, type Statement } from "./postgres-statements.ts";

const CONNECT_TIMEOUT_MS = 5_000;
/** A step that waits longer than this for the wallet lock fails instead of stalling its caller. */
const STATEMENT_TIMEOUT_MS = 10_000;
/** Client-side bound for a server that stops answering mid-query. */
const QUERY_TIMEOUT_MS = 15_000;
const IDLE_TIMEOUT_MS = 10_000;
/** Raised by reserve_hold for a wallet no ledger has given a budget. */
const NO_WALLET_SQLSTATE = "P0002";

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
  #pool: Promise<Pool> | undefined;

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

  /** Ends the pool, once any connection attempt in progress has ended. */
  async close(): Promise<void> {
    const connecting = this.#pool;
    this.#pool = undefined;
    const pool = await connecting?.catch(() => undefined);
    await pool?.end().catch(() => undefined);
  }

  /**
   * Runs one money-moving function. With `withinCommit` it runs in an explicit transaction so the
   * callback sees the committed-to-be result before COMMIT; without it the single statement is its
   * own transaction, one round trip.
   */
  async step<Row, Result>(
    statement: Statement,
    values: unknown[],
    interpret: (row: Row) => Result,
    withinCommit: ((result: Result) => void) | undefined,
  ): Promise<Result> {
    if (withinCommit === undefined) return interpret(await this.queryOne<Row>(statement, values));
    const client = await this.#connection();
    let discard: Error | undefined;
    try {
      await this.#run(client, BEGIN);
      const result = interpret(this.#firstRow(await this.#run<Row>(client, statement, values)));
      withinCommit(result);
      await this.#run(client, COMMIT);
      return result;
    } catch (error) {
      // A connection that cannot even roll back is in an unknown state: drop it rather than reuse it.
      await client.query("ROLLBACK").catch((rollbackError: unknown) => {
        discard = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    } finally {
      client.release(discard);
    }
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

  async #run<Row>(client: PoolClient, statement: Statement, values: unknown[] = []): Promise<Row[]> {
    try {
      const result = await client.query({ ...statement, values });
      return result.rows as Row[];
    } catch (error) {
      throw this.#failed(error);
    }
  }

  #firstRow<Row>(rows: Row[]): Row {
    const row = rows[0];
    if (row === undefined)
      throw new LedgerUnavailableError(`The PostgreSQL ledger at ${this.server} returned no row.`);
    return row;
  }

  async #connection(): Promise<PoolClient> {
    const pool = await this.#ready();
    try {
      return await pool.connect();
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /** The pool, connected and migrated; a failed attempt is forgotten so the next call tries again. */
  #ready(): Promise<Pool> {
    this.#pool ??= this.#connect().catch((error: unknown) => {
      this.#pool = undefined;
      throw error;
    });
    return this.#pool;
  }

  async #connect(): Promise<Pool> {
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
    try {
      const client = await pool.connect();
      try {
        await this.#prepare(client);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw this.#cannotReach(error);
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

  #failed(error: unknown): unknown {
    if (error instanceof UsertrustError || error instanceof RangeError) return error;
    if ((error as { code?: unknown }).code === NO_WALLET_SQLSTATE) {
      return new LedgerUnavailableError(
        `The PostgreSQL ledger at ${this.server} (schema "${this.#schema}"): ${this.#reason(error)}.`,
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
