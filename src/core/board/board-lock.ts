import {
  closeSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { threadId } from "node:worker_threads";
import { UsertrustError } from "../errors.ts";

/**
 * A holder keeps the lock for one history append or one trim (microseconds to milliseconds), so a
 * lock this old was left by a process that died or hung while holding it.
 */
export const LOCK_STALE_MS = 10_000;
/** Longer than LOCK_STALE_MS, so a waiter always gets to break a stale lock before giving up. */
export const LOCK_WAIT_MS_MAX = 15_000;
const RETRY_SLEEP_MS_MAX = 16;

/** Read once: os.hostname() is a system call, and the lock is taken on every review. */
const HOST = hostname();
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let acquisitions = 0;

/**
 * Runs `work` while holding the lock file at `path`, created with O_EXCL so only one process (or
 * worker thread) on the machine holds it at a time. The file names its holder (`pid@host`) and is
 * removed on release. A lock whose holder is a process of this host that no longer exists, or that
 * is older than LOCK_STALE_MS, is broken. Synchronous: callers run on the review path, which is
 * synchronous, and hold the lock only for a few small file operations.
 */
export function withFileLock<T>(path: string, work: () => T): T {
  const taken = acquire(path);
  try {
    return work();
  } finally {
    release(path, taken);
  }
}

/** Which lock file is ours: a later one has another inode or, if its inode is reused, a later mtime. */
interface Taken {
  ino: number;
  mtimeMs: number;
}

function acquire(path: string): Taken {
  acquisitions += 1;
  const token = `${process.pid}@${HOST} ${threadId}.${acquisitions}`;
  const deadline = Date.now() + LOCK_WAIT_MS_MAX;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx");
      try {
        writeSync(fd, token);
        const { ino, mtimeMs } = fstatSync(fd);
        return { ino, mtimeMs };
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") mkdirSync(dirname(path), { recursive: true });
      else if (code !== "EEXIST") throw lockError(path, error);
    }
    if (breakIfStale(path)) continue;
    if (Date.now() > deadline) {
      throw lockError(path, new Error(`still held by ${holderOf(path)} after ${LOCK_WAIT_MS_MAX} ms`));
    }
    Atomics.wait(sleeper, 0, 0, Math.min(2 ** attempt, RETRY_SLEEP_MS_MAX));
  }
}

/** Removes our lock, unless a waiter broke it after a stall longer than LOCK_STALE_MS and holds it now. */
function release(path: string, taken: Taken): void {
  try {
    const now = statSync(path);
    if (now.ino === taken.ino && now.mtimeMs === taken.mtimeMs) unlinkSync(path);
  } catch {
    // Already gone: a waiter broke it and released its own.
  }
}

/**
 * Removes the lock at `path` if its holder is gone. The stale file is renamed to a name of our own
 * first and checked to be the one judged stale: a second waiter that judged the same lock stale
 * would otherwise remove the fresh lock the first one took meanwhile, which is put back.
 */
function breakIfStale(path: string): boolean {
  let holder: string;
  let ageMs: number;
  try {
    holder = readFileSync(path, "utf8");
    ageMs = Date.now() - statSync(path).mtimeMs;
  } catch (error) {
    // Released between our attempt and this look: try again at once.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw lockError(path, error);
  }
  if (!(ageMs > LOCK_STALE_MS || holderIsGone(holder))) return false;
  const aside = `${path}.stale-${process.pid}-${threadId}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw lockError(path, error);
  }
  try {
    if (readFileSync(aside, "utf8") !== holder) linkSync(aside, path);
  } catch {
    // The fresh lock could not be put back because another waiter took the lock meanwhile.
  }
  try {
    unlinkSync(aside);
  } catch {
    // Nothing holds it any more; a leftover aside file is harmless.
  }
  return true;
}

/** A holder on this host whose process has exited. A holder still writing its name reads as "". */
function holderIsGone(holder: string): boolean {
  const match = /^(\d+)@(\S+) /.exec(holder);
  if (match === null || match[2] !== HOST) return false;
  try {
    process.kill(Number(match[1]), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function holderOf(path: string): string {
  try {
    return readFileSync(path, "utf8").split(" ")[0] || "a process that is still starting";
  } catch {
    return "another process";
  }
}

function lockError(path: string, error: unknown): UsertrustError {
  const reason = error instanceof Error ? error.message : String(error);
  return new UsertrustError(
    "BOARD_STORE_FAILED",
    `The board could not lock ${path}: ${reason}. If no usertrust process is running on this vault, ` +
      "delete the lock file; otherwise check that the vault folder is writable by this process.",
    { cause: error },
  );
}
