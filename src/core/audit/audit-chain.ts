import { randomUUID } from "node:crypto";
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import type { DatabaseSync } from "node:sqlite";
import { AuditError, ClientDestroyedError } from "../errors.ts";
import { GroupCommit } from "../group-commit.ts";
import { type Durability, VaultDatabase } from "../vault-database.ts";
import { type AuditEvent, GENESIS_HASH, hashEvent, sealEvent, sha256Hex } from "./audit-event.ts";
import { parseEventLine } from "./event-line.ts";

/** A line longer than this is refused: audit data are ids, counts and hashes, never documents. */
export const EVENT_BYTES_MAX = 64 * 1024;

interface Head {
  sequence: number;
  hash: string;
  bytes: number;
}

/** Lines appended in the open transaction, written together just before it commits. */
interface PendingLines {
  /** The log's length when the transaction first appended, once any torn tail was set aside. */
  logBytes: number;
  /** The head as recorded before the transaction's first append (null: none was). */
  recorded: Head | null;
  lines: Buffer[];
  bytes: number;
  events: AuditEvent[];
  /** A torn tail to move to a side file just before the lines are written (so only if it commits). */
  repair?: { file: string; torn: Buffer; truncateTo: number };
}

/** Where a queued piece of a batch started, so its lines can be dropped if it is undone. */
type PieceMark = { lines: number; bytes: number } | null;

/**
 * The writer side of the audit chain. Appends are serialized across every process on the vault
 * by a `BEGIN IMMEDIATE` on the vault's SQLite file, whose `audit_head` table also records the
 * chain's head: its last sequence, hash and the log's length. That record lets a writer adopt a
 * line whose writer crashed before recording it, and lets `verify` detect lines cut from the tail.
 * Sharing the ledger's connection lets a spend and its event commit in one transaction.
 */
export class AuditChain {
  readonly path: string;
  readonly #fd: number;
  readonly #database: VaultDatabase;
  readonly #ownsDatabase: boolean;
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #groupCommit: GroupCommit | null;
  #pending: PendingLines | null = null;
  /** Events whose lines the disk refused, with why; their transaction committed without them. */
  readonly #unwritten = new WeakMap<AuditEvent, AuditError>();
  #closed = false;

  /** `database`: the vault's connection (closed by its owner); or `headPath` for a connection of its own. */
  constructor(
    options: { logPath: string; durability?: Durability } & (
      | { database: VaultDatabase }
      | { headPath: string }
    ),
  ) {
    this.path = options.logPath;
    this.#ownsDatabase = !("database" in options);
    try {
      this.#database =
        "database" in options
          ? options.database
          : new VaultDatabase(options.headPath, options.durability ?? "normal");
    } catch (error) {
      throw new AuditError(`Cannot open the audit chain's head record: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      this.#fd = openSync(options.logPath, "a+");
      this.#database.setup(
        "CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), sequence INTEGER NOT NULL, hash TEXT NOT NULL, bytes INTEGER NOT NULL)",
      );
      this.#statements = prepareStatements(this.#database.db);
      this.#ensureHead();
    } catch (error) {
      if (this.#ownsDatabase) this.#database.close();
      throw new AuditError(`Cannot open the audit chain at ${options.logPath}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.#groupCommit = options.durability === "strict" ? new GroupCommit([this.#fd]) : null;
    this.#database.join({
      markPiece: () => this.#markPiece(),
      undoPiece: (mark) => this.#undoPiece(mark as PieceMark),
      beforeCommit: () => this.#writePending(),
      afterRollback: () => {
        this.#pending = null;
      },
    });
  }

  /**
   * Appends one event and returns it with its hash; inside the transaction already open on the
   * shared connection, if any. Throws AuditError when the chain cannot be extended.
   */
  append(kind: AuditEvent["kind"], actor: string, data: Record<string, unknown>): AuditEvent {
    if (this.#closed) throw new ClientDestroyedError();
    const alone = !this.#database.inTransaction;
    let event: AuditEvent;
    try {
      event = this.#database.transaction(() => this.#appendInTransaction(kind, actor, data));
    } catch (error) {
      if (error instanceof AuditError) throw error;
      throw new AuditError(`Cannot append to the audit chain at ${this.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    // In a transaction of its own, the line was written as it committed: a refused write is this
    // append's failure. Inside a caller's transaction, the caller asks `writeFailureOf` after it.
    const failure = alone ? this.#unwritten.get(event) : undefined;
    if (failure !== undefined) throw failure;
    return event;
  }

  /**
   * Why `event`'s line is not in the log, when its transaction committed without it (the disk
   * refused the write); undefined when it was written.
   */
  writeFailureOf(event: AuditEvent): AuditError | undefined {
    return this.#unwritten.get(event);
  }

  /**
   * A head row exists before any line is written: without one, lines of a writer that crashed
   * between writing and committing would look, to the next writer, like a log older than its vault
   * database, and be adopted as if committed. Such an older log (no row yet) is adopted here, once,
   * as far as its lines chain from genesis; the first append sets the rest aside.
   */
  #ensureHead(): void {
    this.#database.transaction(() => {
      if (this.#readHead() !== null) return;
      const size = fstatSync(this.#fd).size;
      let head: Head = { sequence: 0, hash: GENESIS_HASH, bytes: 0 };
      if (size > 0) {
        const log = Buffer.alloc(size);
        readSync(this.#fd, log, 0, size, 0);
        head = adoptChainedLines(log);
      }
      this.#statements.writeHead.run(head.sequence, head.hash, head.bytes);
    });
  }

  /**
   * With strict durability, a promise that resolves once every event appended so far is on stable
   * storage; otherwise nothing to wait for.
   */
  flush(): Promise<void> | undefined {
    if (this.#groupCommit === null) return undefined;
    return Promise.all([this.#groupCommit.sync(), this.#database.sync()]).then(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
    if (this.#ownsDatabase) this.#database.close();
  }

  #readHead(): Head | null {
    return (this.#statements.readHead.get() as Head | undefined) ?? null;
  }

  /**
   * The head this append chains from. The first append of a transaction compares the log with the
   * recorded head (one fstat) and repairs a torn tail; later ones, under the same write lock, know
   * the log's length from the lines they queued.
   */
  #appendInTransaction(kind: AuditEvent["kind"], actor: string, data: Record<string, unknown>): AuditEvent {
    const recorded = this.#readHead();
    let head = recorded ?? { sequence: 0, hash: GENESIS_HASH, bytes: 0 };
    const pending = this.#pending;
    if (pending === null) {
      const size = fstatSync(this.#fd).size;
      if (size === head.bytes) {
        this.#pending = { logBytes: size, recorded, lines: [], bytes: 0, events: [] };
      } else {
        const { adopted, repair } = this.#reconcile(head, size, recorded !== null);
        this.#pending = { logBytes: adopted.bytes, recorded, lines: [], bytes: 0, events: [] };
        if (repair !== undefined) {
          this.#pending.repair = repair.plan;
          head = this.#queueLine(
            adopted,
            sealEvent(unsignedEvent(adopted, "audit_repaired", "usertrust", repair.data)),
          );
        } else head = adopted;
      }
    } else if (head.bytes !== pending.logBytes + pending.bytes) {
      throw new AuditError(
        `The audit chain's head (${head.bytes} bytes) no longer matches the lines queued for ${this.path}; ` +
          "refusing to write. Run `usertrust verify`.",
      );
    }
    const sealed = sealEvent(unsignedEvent(head, kind, actor, data));
    this.#queueLine(head, sealed);
    return sealed.event;
  }

  /** Queues a sealed event's line after `head` and records it as the new head (in the transaction). */
  #queueLine(head: Head, sealed: { event: AuditEvent; line: string }): Head {
    const pending = this.#pending;
    if (pending === null) throw new AuditError("internal: an audit line was queued outside a transaction");
    const bytes = Buffer.from(sealed.line, "utf8");
    if (bytes.length > EVENT_BYTES_MAX) {
      throw new AuditError(
        `An audit event of ${bytes.length} bytes exceeds the ${EVENT_BYTES_MAX}-byte limit`,
      );
    }
    const next = {
      sequence: sealed.event.sequence,
      hash: sealed.event.hash,
      bytes: head.bytes + bytes.length,
    };
    this.#statements.writeHead.run(next.sequence, next.hash, next.bytes);
    pending.lines.push(bytes);
    pending.bytes += bytes.length;
    pending.events.push(sealed.event);
    return next;
  }

  #markPiece(): PieceMark {
    return this.#pending === null ? null : { lines: this.#pending.lines.length, bytes: this.#pending.bytes };
  }

  /** A queued piece was rolled back (its head updates with it): its lines go too. */
  #undoPiece(mark: PieceMark): void {
    if (mark === null || this.#pending === null) {
      this.#pending = null;
      return;
    }
    this.#pending.lines.length = mark.lines;
    this.#pending.events.length = mark.lines;
    this.#pending.bytes = mark.bytes;
  }

  /**
   * Just before the commit, still under the write lock: the transaction's lines in one write. If
   * the disk refuses it, the head goes back to where it was and the rest of the transaction (a
   * spend that really happened) still commits; its events are reported by writeFailureOf. Bytes a
   * failed write left behind are a torn tail the next append sets aside.
   */
  #writePending(): void {
    const pending = this.#pending;
    this.#pending = null;
    if (pending === null || pending.lines.length === 0) return;
    const bytes = pending.lines.length === 1 ? (pending.lines[0] as Buffer) : Buffer.concat(pending.lines);
    try {
      // The torn tail moves aside only now: a transaction that does not commit leaves it in place
      // for the next writer, and the audit_repaired event naming the side file commits with it.
      if (pending.repair !== undefined) {
        writeFileSync(pending.repair.file, pending.repair.torn, { flag: "wx" });
        ftruncateSync(this.#fd, pending.repair.truncateTo);
      }
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(this.#fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      const failure = new AuditError(
        `Cannot append to the audit chain at ${this.path}: ${(error as Error).message}`,
        { cause: error },
      );
      for (const event of pending.events) this.#unwritten.set(event, failure);
      if (pending.recorded === null) this.#statements.deleteHead.run();
      else
        this.#statements.writeHead.run(
          pending.recorded.sequence,
          pending.recorded.hash,
          pending.recorded.bytes,
        );
    }
  }

  /**
   * Before anything after the recorded head is set aside: the line ending at head.bytes must be the
   * head's event. When it is not, lines before it were rewritten (one grew or shrank), and moving
   * "the tail" aside would cut a committed event in half: refuse to write instead.
   */
  #assertLogEndsAtHead(head: Head): void {
    if (head.bytes === 0) return;
    const before = Buffer.alloc(Math.min(head.bytes, EVENT_BYTES_MAX + 1));
    readSync(this.#fd, before, 0, before.length, head.bytes - before.length);
    const start = before.lastIndexOf(0x0a, before.length - 2) + 1;
    const event =
      before[before.length - 1] === 0x0a
        ? parseEventLine(before.subarray(start, before.length - 1).toString("utf8"))
        : null;
    if (event === null || event.sequence !== head.sequence || event.hash !== head.hash) {
      throw new AuditError(
        `The audit log ${this.path} no longer has the vault's last recorded event (${head.sequence}) ending at ` +
          `byte ${head.bytes}: lines before it were rewritten. Refusing to write; run \`usertrust verify\`.`,
      );
    }
  }

  /**
   * The log's length differs from the recorded head. Longer: the bytes after the head come from
   * a transaction that never committed (its writer crashed between writing and committing, and its
   * ledger step rolled back with it), so they are moved to a side file (never deleted) and an
   * `audit_repaired` event records them. With no head recorded at all (a log older than its
   * vault database), the lines that chain from genesis are adopted instead. Shorter: lines were
   * removed; refuse to write until a person looks (`usertrust verify`).
   */
  #reconcile(
    head: Head,
    size: number,
    headRecorded: boolean,
  ): {
    adopted: Head;
    repair?: { plan: NonNullable<PendingLines["repair"]>; data: Record<string, unknown> };
  } {
    if (size < head.bytes) {
      throw new AuditError(
        `The audit log ${this.path} is ${size} bytes but the vault recorded ${head.bytes} bytes (event ${head.sequence}); ` +
          "lines were removed from its end. Run `usertrust verify` and restore the log from a backup.",
      );
    }
    if (headRecorded) this.#assertLogEndsAtHead(head);
    const tail = Buffer.alloc(size - head.bytes);
    readSync(this.#fd, tail, 0, tail.length, head.bytes);
    const adopted = headRecorded ? head : adoptChainedLines(tail);
    if (adopted.bytes === size) return { adopted };
    const torn = tail.subarray(adopted.bytes - head.bytes);
    const file = `${this.path}.torn-${Date.now()}-${adopted.sequence}`;
    return {
      adopted,
      repair: {
        plan: { file, torn, truncateTo: adopted.bytes },
        data: {
          reason:
            "bytes after the last committed event: a writer crashed before committing, or they were added by hand",
          file,
          bytes: torn.length,
          sha256: sha256Hex(torn),
        },
      },
    };
  }
}

/** Whether `event` hashes to `hash`; an event with no canonical form (an edited line) does not. */
function hashesTo(event: Parameters<typeof hashEvent>[0], hash: string): boolean {
  try {
    return hashEvent(event) === hash;
  } catch {
    return false;
  }
}

/** The head after the longest run of lines in `log` that chain from genesis with valid hashes. */
function adoptChainedLines(log: Buffer): Head {
  let adopted: Head = { sequence: 0, hash: GENESIS_HASH, bytes: 0 };
  for (;;) {
    const newline = log.indexOf(0x0a, adopted.bytes);
    if (newline === -1) return adopted;
    const event = parseEventLine(log.subarray(adopted.bytes, newline).toString("utf8"));
    const chains =
      event !== null && event.previousHash === adopted.hash && event.sequence === adopted.sequence + 1;
    if (!chains || !hashesTo(event, event.hash)) return adopted;
    adopted = { sequence: event.sequence, hash: event.hash, bytes: newline + 1 };
  }
}

function unsignedEvent(
  head: Head,
  kind: string,
  actor: string,
  data: Record<string, unknown>,
): Omit<AuditEvent, "hash"> {
  return {
    id: `evt_${randomUUID()}`,
    timestamp: new Date().toISOString(),
    previousHash: head.hash,
    kind,
    actor,
    data,
    sequence: head.sequence + 1,
  };
}

function prepareStatements(db: DatabaseSync) {
  return {
    readHead: db.prepare("SELECT sequence, hash, bytes FROM audit_head WHERE id = 1"),
    deleteHead: db.prepare("DELETE FROM audit_head WHERE id = 1"),
    writeHead: db.prepare(
      "INSERT INTO audit_head (id, sequence, hash, bytes) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash, bytes = excluded.bytes",
    ),
  };
}
