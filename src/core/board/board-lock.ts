import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readSync,
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
/**
 * A waiter breaks a stale lock while holding `<lock>.break`, for one look and one unlink
 * (microseconds); one this old was left by a waiter that died there. Short enough that waiters
 * still break the lock itself within LOCK_WAIT_MS_MAX.
 */
export const BREAK_LOCK_STALE_MS = 2_000;
export const BREAK_LOCK_SUFFIX = ".break";
const RETRY_SLEEP_MS_MAX = 16;
/** A holder's name is a few dozen bytes; more is not one of ours. */
const HOLDER_BYTES_MAX = 256;

/** Read once: os.hostname() is a system call, and the lock is taken on every review. */
const HOST = hostname();
const PID_NAMESPACE = pidNamespace();
/** `<pid>@<host> <pid namespace>`: holderIsGone trusts the pid only where all three are ours. */
const HOLDER = `${process.pid}@${HOST} ${PID_NAMESPACE ?? "pid:unknown"}`;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let acquisitions = 0;

/**
 * Runs `work` while holding the lock file at `path`, created with O_EXCL so only one process (or
 * worker thread) holds it at a time. The file names its holder (`pid@host pidns thread.n`) and is
 * removed on release. A lock whose holder is a process of this host and pid namespace that no
 * longer exists, or that is older than LOCK_STALE_MS, is broken (see breakIfStale). Synchronous:
 * callers run on the review path, which is synchronous, and hold the lock only for a few small
 * file operations.
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

/** A lock file as one look saw it: which file, how old, and whom it names. */
interface Seen extends Taken {
  holder: string;
}

function acquire(path: string): Taken {
  acquisitions += 1;
  const token = `${HOLDER} ${threadId}.${acquisitions}`;
  const deadline = Date.now() + LOCK_WAIT_MS_MAX;
  for (let attempt = 0; ; attempt++) {
    const taken = tryTake(path, token);
    if (taken !== undefined) return taken;
    const retryAtOnce = breakIfStale(path, token);
    if (Date.now() > deadline) {
      throw lockError(path, new Error(`still held by ${holderOf(path)} after ${LOCK_WAIT_MS_MAX} ms`));
    }
    if (!retryAtOnce) Atomics.wait(sleeper, 0, 0, Math.min(2 ** attempt, RETRY_SLEEP_MS_MAX));
  }
}

/** Creates the lock file naming `token`, or returns undefined if it exists (or its folder did not). */
function tryTake(path: string, token: string): Taken | undefined {
  let fd: number;
  try {
    fd = openSync(path, "wx");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") mkdirSync(dirname(path), { recursive: true });
    else if (code !== "EEXIST") throw lockError(path, error);
    return undefined;
  }
  try {
    writeSync(fd, token);
    const { ino, mtimeMs } = fstatSync(fd);
    return { ino, mtimeMs };
  } catch (error) {
    // A lock naming nobody would hold everyone off for LOCK_STALE_MS.
    try {
      unlinkSync(path);
    } catch {
      // Left for the age rule.
    }
    throw lockError(path, error);
  } finally {
    closeSync(fd);
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
 * Removes the lock at `path` if its holder is gone; true when the caller should try to take it
 * again at once. Waiters that judged the same lock stale take turns through `<path>.break`, and
 * each removes only the very file it judged (same inode, mtime and holder): the path is never
 * free while a live holder is inside, and no lock is ever put back.
 *
 * A holder stalled past LOCK_STALE_MS that wakes and releases between the second look and the
 * unlink lets the next taker's lock be removed; it had lost the lock to the age rule already.
 */
function breakIfStale(path: string, token: string): boolean {
  const judged = look(path);
  if (judged === undefined) return true;
  if (!isStale(judged, LOCK_STALE_MS)) return false;
  const breakPath = `${path}${BREAK_LOCK_SUFFIX}`;
  const breaking = tryTake(breakPath, token);
  if (breaking === undefined) {
    // Another waiter is breaking it; clear the way only if that waiter died there. No third lock
    // guards this: it has the window described above, and only after a waiter died mid-break.
    const breaker = look(breakPath);
    if (breaker !== undefined && isStale(breaker, BREAK_LOCK_STALE_MS)) removeIfSame(breakPath, breaker);
    return false;
  }
  try {
    removeIfSame(path, judged);
  } finally {
    release(breakPath, breaking);
  }
  return true;
}

/** Unlinks `path` if it is still the file `seen` (a later holder's lock has another inode, mtime or name). */
function removeIfSame(path: string, seen: Seen): void {
  const now = look(path);
  if (
    now === undefined ||
    now.ino !== seen.ino ||
    now.mtimeMs !== seen.mtimeMs ||
    now.holder !== seen.holder
  ) {
    return;
  }
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw lockError(path, error);
  }
}

/** The lock file at `path` from one open file (so inode, mtime and name belong together), or undefined if there is none. */
function look(path: string): Seen | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw lockError(path, error);
  }
  try {
    const { ino, mtimeMs } = fstatSync(fd);
    const bytes = Buffer.alloc(HOLDER_BYTES_MAX);
    const length = readSync(fd, bytes, 0, HOLDER_BYTES_MAX, 0);
    return { ino, mtimeMs, holder: bytes.toString("utf8", 0, length) };
  } catch (error) {
    throw lockError(path, error);
  } finally {
    closeSync(fd);
  }
}

function isStale(seen: Seen, staleMs: number): boolean {
  return Date.now() - seen.mtimeMs > staleMs || holderIsGone(seen.holder);
}

/**
 * A holder of this host and pid namespace whose process has exited. Containers that share the
 * host's name (`--network host`, the containers of one pod) each have their own pid namespace, where
 * another container's pid means nothing: their locks are judged by age only. A holder still writing
 * its name reads as "".
 */
function holderIsGone(holder: string): boolean {
  if (PID_NAMESPACE === undefined) return false;
  const match = /^(\d+)@(\S+) (\S+) /.exec(holder);
  if (match === null || match[2] !== HOST || match[3] !== PID_NAMESPACE) return false;
  try {
    process.kill(Number(match[1]), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * This process's pid namespace (`pid:[4026531836]`) on Linux; undefined where it cannot be read
 * (pids are then never trusted). Other systems have no pid namespaces: one per host.
 */
function pidNamespace(): string | undefined {
  if (process.platform !== "linux") return "pid:host";
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return undefined;
  }
}

function holderOf(path: string): string {
  try {
    return look(path)?.holder.split(" ")[0] || "a process that is still starting";
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
