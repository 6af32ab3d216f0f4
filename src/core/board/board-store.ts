import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  type Stats,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { UsertrustError } from "../errors.ts";
import { withFileLock } from "./board-lock.ts";
import {
  countEntry,
  freshSession,
  parseEntry,
  parseJson,
  type Session,
  sessionSchema,
} from "./board-records.ts";
import { type BoardHistoryEntry, type BoardStats, CONCERN_TYPES } from "./board-types.ts";

export const SESSION_FILE_NAME = "session.json";
export const HISTORY_FILE_NAME = "history.jsonl";
export const LOCK_FILE_NAME = "board.lock";
/** session.json is rewritten at most this often per process on the review path (plus on trim and flush). */
export const SESSION_WRITE_INTERVAL_MS = 1_000;

/** What this process last saw of history.jsonl while holding the lock. */
interface HistoryTail {
  ino: number;
  size: number;
  /**
   * The file's last bytes, from the start of its last line: still there at `size - lastLine.length`
   * only while the file is the one seen (inode numbers are reused once another process trims).
   */
  lastLine: Buffer;
  /** Non-empty lines in the file. */
  lines: number;
  /** The highest seq handed out on this vault: in the file, or in session.json once the file was emptied. */
  lastSeq: number;
  /** False when the file ends in a torn line (a writer died mid-append): the next line starts on a new one. */
  endsWithNewline: boolean;
}

/**
 * The board's files in `<vault>/board/`, shared by every board on the vault: boards of this process
 * share one store (see acquireBoardStore), other processes open their own, and every write happens
 * under the folder's lock file (`board.lock`, see board-lock.ts), so:
 *
 * - `history.jsonl`: one line per review, appended with the next seq of the vault (each review gets
 *   its own, whichever process made it). Appending one line costs one small write; the file is
 *   rewritten (temp file + rename) to its newest maxHistory lines only once it holds more than
 *   2 × maxHistory, so it holds up to 2 × maxHistory lines and `history()` returns at most maxHistory.
 *   The rewrite happens under the lock, so no line another process appends meanwhile is dropped.
 * - `session.json`: the stats of every review since the session started, written atomically (temp
 *   file + rename). Each write reads the session on disk and counts the history lines after its
 *   lastSeq, so writers in several processes add up instead of overwriting one another. Rewriting it
 *   on every review would cost more than the whole review, so a process writes it at most once per
 *   SESSION_WRITE_INTERVAL_MS, and before every history trim, on open and on flush. `stats()` counts
 *   the lines not yet written into it, so it is always complete.
 *
 * A corrupt session.json is kept as `session.json.corrupt-<time>` and the session starts fresh from
 * whatever the history still holds; unreadable history lines are skipped.
 */
export class BoardStore {
  readonly dir: string;
  readonly sessionPath: string;
  readonly historyPath: string;
  readonly lockPath: string;
  #tail: HistoryTail | undefined;
  #sessionWrittenAtMs = Number.NEGATIVE_INFINITY;

  constructor(dir: string) {
    this.dir = dir;
    this.sessionPath = join(dir, SESSION_FILE_NAME);
    this.historyPath = join(dir, HISTORY_FILE_NAME);
    this.lockPath = join(dir, LOCK_FILE_NAME);
    mkdirSync(dir, { recursive: true });
  }

  /**
   * Appends one review to the history with the vault's next seq and returns the entry as written.
   * Trims the history once it passes 2 × `maxHistory` lines.
   */
  record(review: Omit<BoardHistoryEntry, "seq">, maxHistory: number, nowMs: number): BoardHistoryEntry {
    return withFileLock(this.lockPath, () => {
      const { entry, lines } = this.#appendNext(review);
      if (lines > 2 * maxHistory) this.#trim(maxHistory, nowMs);
      else if (nowMs - this.#sessionWrittenAtMs >= SESSION_WRITE_INTERVAL_MS) this.#writeSession(nowMs);
      return entry;
    });
  }

  /** Every review since the session started, by any board on the vault. Writes nothing. */
  stats(nowMs: number): BoardStats {
    const session = withFileLock(this.lockPath, () => {
      const current = this.#loadSession(nowMs, { keepCorruptAside: false });
      this.#countNewLines(current);
      return current;
    });
    const { stats } = session;
    return { ...stats, concernCounts: { ...stats.concernCounts } };
  }

  /** The newest `limit` entries, oldest first. The file is replaced whole on a trim, so no lock is needed. */
  history(limit: number): BoardHistoryEntry[] {
    const keep = Math.floor(limit);
    if (!(keep > 0)) return [];
    return this.#readHistoryText()
      .split("\n")
      .map(parseEntry)
      .filter((entry) => entry !== undefined)
      .slice(-keep);
  }

  /** Writes session.json now, with every review up to the last history line. */
  flush(nowMs: number): void {
    withFileLock(this.lockPath, () => this.#writeSession(nowMs));
  }

  /**
   * Appends `review` with the vault's next seq and returns it with the file's line count, through
   * one open file (for reading and appending).
   */
  #appendNext(review: Omit<BoardHistoryEntry, "seq">): { entry: BoardHistoryEntry; lines: number } {
    let fd: number;
    try {
      fd = openSync(this.historyPath, "a+");
    } catch (error) {
      throw storeError(this.historyPath, error);
    }
    try {
      const tail = this.#readTail(fd);
      const entry: BoardHistoryEntry = { seq: tail.lastSeq + 1, ...review };
      const line = Buffer.from(`${tail.endsWithNewline ? "" : "\n"}${JSON.stringify(entry)}\n`);
      const written = writeSync(fd, line);
      // A torn line left by a short write is found and skipped by the next read.
      if (written !== line.length)
        throw new Error(`wrote ${written} of ${line.length} bytes (is the disk full?)`);
      // No other writer appends while we hold the lock, so the file now ends with our line.
      this.#tail = {
        ino: tail.ino,
        size: tail.size + written,
        lastLine: line.subarray(tail.endsWithNewline ? 0 : 1),
        lines: tail.lines + 1,
        lastSeq: entry.seq,
        endsWithNewline: true,
      };
      return { entry, lines: this.#tail.lines };
    } catch (error) {
      if (error instanceof UsertrustError) throw error;
      throw storeError(this.historyPath, error);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The history's end as it is now. When the file is the one this process last saw (its last line
   * still where it was), only what others appended since is read; a file a trim replaced is read
   * whole, even where it got the old inode number back and has grown past the old size.
   */
  #readTail(fd: number): HistoryTail {
    const known = this.#tail;
    const { ino, size } = fstatSync(fd);
    const same = known !== undefined && known.ino === ino && known.size <= size && endsWith(fd, known);
    if (same && known.size === size) return known;
    const from = same ? known.size : 0;
    const bytes = readBytes(fd, from, size);
    const tail: HistoryTail = same
      ? { ...known, size }
      : { ino, size, lastLine: EMPTY, lines: 0, lastSeq: this.#sessionLastSeq(), endsWithNewline: true };
    for (const line of bytes.toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      tail.lines += 1;
      tail.lastSeq = Math.max(tail.lastSeq, parseEntry(line)?.seq ?? 0);
    }
    if (bytes.length > 0) {
      tail.lastLine = lastLineOf(bytes, tail.lastLine);
      tail.endsWithNewline = bytes[bytes.length - 1] === NEWLINE;
    }
    this.#tail = tail;
    return tail;
  }

  /**
   * Keeps the newest maxHistory lines as they are; runs under the lock, so no other writer appends
   * meanwhile. The session is written first and counts every line, so none that is dropped goes
   * uncounted, even if the process dies between the two writes.
   */
  #trim(maxHistory: number, nowMs: number): void {
    const session = this.#loadSession(nowMs, { keepCorruptAside: true });
    this.#countNewLines(session);
    const kept = this.#readHistoryText()
      .split("\n")
      .filter((line) => line.trim() !== "")
      .slice(-maxHistory);
    const content = kept.map((line) => `${line}\n`).join("");
    session.historyBytes = Buffer.byteLength(content);
    this.#saveSession(session, nowMs);
    writeAtomically(this.historyPath, content);
    const { ino, size } = statHistory(this.historyPath);
    const lastSeq = this.#tail?.lastSeq ?? session.lastSeq;
    const lastLine = kept.length === 0 ? EMPTY : Buffer.from(`${kept[kept.length - 1]}\n`);
    this.#tail = { ino, size, lastLine, lines: kept.length, lastSeq, endsWithNewline: true };
  }

  #writeSession(nowMs: number): void {
    const session = this.#loadSession(nowMs, { keepCorruptAside: true });
    this.#countNewLines(session);
    this.#saveSession(session, nowMs);
  }

  /** Counts the history lines after the session's lastSeq into it. */
  #countNewLines(session: Session): void {
    const { bytes, from } = this.#readHistoryAfter(session.historyBytes ?? 0);
    const countedUpTo = session.lastSeq;
    for (const line of bytes.toString("utf8").split("\n")) {
      const entry = parseEntry(line);
      if (entry !== undefined && entry.seq > countedUpTo) countEntry(session, entry);
    }
    // Up to the last full line: a line still being written is read again next time.
    session.historyBytes = from + bytes.lastIndexOf(NEWLINE) + 1;
  }

  /** The history from byte `offset`, or the whole of it when `offset` is not the start of a line in it. */
  #readHistoryAfter(offset: number): { bytes: Buffer; from: number } {
    let fd: number;
    try {
      fd = openSync(this.historyPath, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { bytes: Buffer.alloc(0), from: 0 };
      throw storeError(this.historyPath, error);
    }
    try {
      const { size } = fstatSync(fd);
      const fits = offset === 0 || (offset <= size && readBytes(fd, offset - 1, offset)[0] === NEWLINE);
      const from = fits ? offset : 0;
      return { bytes: readBytes(fd, from, size), from };
    } catch (error) {
      throw storeError(this.historyPath, error);
    } finally {
      closeSync(fd);
    }
  }

  #sessionLastSeq(): number {
    return this.#loadSession(0, { keepCorruptAside: false }).lastSeq;
  }

  #loadSession(nowMs: number, { keepCorruptAside }: { keepCorruptAside: boolean }): Session {
    let text: string;
    try {
      text = readFileSync(this.sessionPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return freshSession(nowMs);
      throw storeError(this.sessionPath, error);
    }
    const parsed = sessionSchema.safeParse(parseJson(text));
    if (parsed.success) {
      for (const type of CONCERN_TYPES) parsed.data.stats.concernCounts[type] ??= 0;
      return parsed.data;
    }
    if (keepCorruptAside) {
      const stamp = new Date(nowMs).toISOString().replaceAll(":", "-");
      try {
        renameSync(this.sessionPath, `${this.sessionPath}.corrupt-${stamp}`);
      } catch (error) {
        throw storeError(this.sessionPath, error);
      }
    }
    return freshSession(nowMs);
  }

  #saveSession(session: Session, nowMs: number): void {
    writeAtomically(this.sessionPath, `${JSON.stringify(session, null, 2)}\n`);
    this.#sessionWrittenAtMs = nowMs;
  }

  #readHistoryText(): string {
    try {
      return readFileSync(this.historyPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
      throw storeError(this.historyPath, error);
    }
  }
}

const storesByDir = new Map<string, { store: BoardStore; holders: number }>();

/**
 * The store of a board folder, shared by every board on it in this process (two trust() clients on
 * one vault, say), so they keep one view of the history's end between reviews. Give it back once
 * with releaseBoardStore; the last release writes the session.
 */
export function acquireBoardStore(dir: string): BoardStore {
  const key = resolve(dir);
  let shared = storesByDir.get(key);
  if (shared === undefined) {
    shared = { store: new BoardStore(key), holders: 0 };
    storesByDir.set(key, shared);
  }
  shared.holders += 1;
  return shared.store;
}

export function releaseBoardStore(store: BoardStore, nowMs: number): void {
  const shared = storesByDir.get(store.dir);
  if (shared?.store !== store) return;
  shared.holders -= 1;
  if (shared.holders > 0) return;
  storesByDir.delete(store.dir);
  store.flush(nowMs);
}

const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

/** Whether the open file still ends, at the size seen, with the last line seen. */
function endsWith(fd: number, known: HistoryTail): boolean {
  const { lastLine, size } = known;
  return readBytes(fd, size - lastLine.length, size).equals(lastLine);
}

/**
 * The last line (with its newline) of a file whose bytes end with `bytes`; `before` is the last line
 * of what precedes them, which a torn line continued at the start of `bytes` belongs to.
 */
function lastLineOf(bytes: Buffer, before: Buffer): Buffer {
  const end = bytes[bytes.length - 1] === NEWLINE ? bytes.length - 1 : bytes.length;
  const start = end === 0 ? 0 : bytes.lastIndexOf(NEWLINE, end - 1) + 1;
  const continuesTornLine = start === 0 && before.length > 0 && before[before.length - 1] !== NEWLINE;
  // A copy, so the tail does not keep the whole read alive.
  return continuesTornLine ? Buffer.concat([before, bytes]) : Buffer.from(bytes.subarray(start));
}

function statHistory(path: string): Stats {
  try {
    return statSync(path);
  } catch (error) {
    throw storeError(path, error);
  }
}

/** Bytes [from, to) of an open file. */
function readBytes(fd: number, from: number, to: number): Buffer {
  // Unzeroed (and pooled when small): only the bytes read are returned.
  const bytes = Buffer.allocUnsafe(Math.max(0, to - from));
  let read = 0;
  while (read < bytes.length) {
    const got = readSync(fd, bytes, read, bytes.length - read, from + read);
    if (got === 0) break;
    read += got;
  }
  return bytes.subarray(0, read);
}

function writeAtomically(path: string, content: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, content);
    renameSync(temporary, path);
  } catch (error) {
    throw storeError(path, error);
  }
}

function storeError(path: string, error: unknown): UsertrustError {
  const reason = error instanceof Error ? error.message : String(error);
  return new UsertrustError(
    "BOARD_STORE_FAILED",
    `The board could not read or write ${path}: ${reason}. Check that the vault folder exists and is ` +
      "writable by this process.",
    { cause: error },
  );
}
