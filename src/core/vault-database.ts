import { closeSync, openSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { GroupCommit } from "./group-commit.ts";

export type Durability = "normal" | "strict";

/** How long a writer waits for another process's transaction before giving up. */
const BUSY_TIMEOUT_MS = 10_000;
const SETUP_RETRY_MS = 10_000;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

function isLocked(error: unknown): boolean {
  return error instanceof Error && /database is locked|database is busy/i.test(error.message);
}

/**
 * Something that keeps work of its own in step with this connection's transactions: it is told
 * when a queued piece starts (and when that piece is undone), just before each commit (where it
 * may still write, under the lock), and when a transaction is rolled back.
 */
export interface TransactionParticipant {
  /** A queued piece starts under its savepoint; the returned mark is given back if it is undone. */
  markPiece(): unknown;
  /** The piece that started at `mark` was rolled back to its savepoint. */
  undoPiece(mark: unknown): void;
  /** The transaction is about to commit. Throwing rolls it back. */
  beforeCommit(): void;
  /** The transaction was rolled back, or its commit failed. */
  afterRollback(): void;
}

interface QueuedWork {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * One connection to a vault SQLite file (the ledger and the audit chain's head share
 * `ledger.db`), in WAL mode, shared safely by every process on the machine.
 *
 * "normal" uses synchronous=OFF: each commit is handed to the OS before the call returns, so a
 * process crash loses nothing, and no fsync ever runs on the call path (with NORMAL, the WAL
 * checkpoints that run every few hundred commits fsync inline). "strict" uses synchronous=NORMAL,
 * so checkpoints fsync, and `sync()` adds a group-committed fsync of the WAL: durable against
 * power loss without one fsync per call.
 */
export class VaultDatabase {
  readonly path: string;
  readonly db: DatabaseSync;
  readonly #begin;
  readonly #commit;
  readonly #rollback;
  #walFd: number | null = null;
  #groupCommit: GroupCommit | null = null;
  readonly #savepoint;
  readonly #release;
  readonly #rollbackToSavepoint;
  #queue: Array<QueuedWork> = [];
  #flushScheduled = false;
  #depth = 0;
  #closed = false;
  readonly #participants: TransactionParticipant[] = [];

  constructor(path: string, durability: Durability) {
    this.path = path;
    this.db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
    try {
      // A new file gets 1 KiB pages (an existing one keeps its size): every commit writes each page
      // it changed to the WAL, and a call changes a few rows on a few pages, so smaller pages mean
      // less to copy and checksum per commit (~5 us per call here, also with 100,000 holds stored).
      this.db.exec(
        `PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = ${durability === "strict" ? "NORMAL" : "OFF"};`,
      );
      this.#begin = this.db.prepare("BEGIN IMMEDIATE");
      this.#commit = this.db.prepare("COMMIT");
      this.#rollback = this.db.prepare("ROLLBACK");
      this.#savepoint = this.db.prepare("SAVEPOINT queued_work");
      this.#release = this.db.prepare("RELEASE queued_work");
      this.#rollbackToSavepoint = this.db.prepare("ROLLBACK TO queued_work");
      if (durability === "strict") {
        // The WAL exists while any connection is open once journal_mode is WAL; fsync on any fd
        // of a file flushes that file, so our own read-only fd suffices.
        this.#walFd = openSync(`${path}-wal`, "a+");
        this.#groupCommit = new GroupCommit([this.#walFd]);
      }
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /**
   * Runs schema or mode statements when opening. Switching a new file to WAL needs an exclusive
   * lock that SQLite does not wait for, so several processes opening a new vault at once can see
   * "database is locked": retry for a bounded time instead of failing.
   */
  setup(sql: string): void {
    const deadline = Date.now() + SETUP_RETRY_MS;
    for (;;) {
      try {
        this.db.exec(sql);
        return;
      } catch (error) {
        if (!isLocked(error) || Date.now() > deadline) throw error;
        Atomics.wait(SLEEPER, 0, 0, 5);
      }
    }
  }

  /** A transaction is open on this connection (work runs inside it, not in one of its own). */
  get inTransaction(): boolean {
    return this.#depth > 0;
  }

  join(participant: TransactionParticipant): void {
    this.#participants.push(participant);
  }

  /**
   * Runs `work` in one `BEGIN IMMEDIATE` transaction (serialized across processes), or inside the
   * transaction already open on this connection, so a ledger post and its audit event commit
   * together. Never await inside `work`: the lock must be held for microseconds, not a round trip.
   */
  transaction<T>(work: () => T): T {
    if (this.#depth > 0) {
      this.#depth++;
      try {
        return work();
      } finally {
        this.#depth--;
      }
    }
    this.#begin.run();
    this.#depth = 1;
    try {
      const result = work();
      for (const participant of this.#participants) participant.beforeCommit();
      this.#commit.run();
      return result;
    } catch (error) {
      try {
        this.#rollback.run();
      } catch {
        // COMMIT itself failed and closed the transaction; nothing is left to undo.
      }
      for (const participant of this.#participants) participant.afterRollback();
      throw error;
    } finally {
      this.#depth = 0;
    }
  }

  /**
   * Like `transaction`, but work queued in the same turn of the event loop shares one transaction
   * (one lock, one WAL commit), each piece under its own savepoint so one failing piece is undone
   * alone and rejects alone. Used when calls overlap, where it turns N commits into one.
   */
  batched<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.transaction(() => {
        for (const queued of batch) outcomes.push(this.#runUnderSavepoint(queued.work));
      });
    } catch (error) {
      for (const queued of batch) queued.reject(error);
      return;
    }
    batch.forEach((queued, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) queued.resolve(outcome.value);
      else queued.reject(outcome?.error);
    });
  }

  #runUnderSavepoint(work: () => unknown): { ok: true; value: unknown } | { ok: false; error: unknown } {
    this.#savepoint.run();
    const marks = this.#participants.map((participant) => participant.markPiece());
    try {
      const value = work();
      this.#release.run();
      return { ok: true, value };
    } catch (error) {
      this.#rollbackToSavepoint.run();
      this.#release.run();
      for (const [index, participant] of this.#participants.entries()) participant.undoPiece(marks[index]);
      return { ok: false, error };
    }
  }

  /**
   * With strict durability, a promise that resolves once every commit so far is on stable storage;
   * otherwise nothing to wait for (no promise, so the call path pays no extra turn).
   */
  sync(): Promise<void> | undefined {
    return this.#groupCommit?.sync();
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    if (this.#walFd !== null) closeSync(this.#walFd);
    this.db.close();
  }
}
