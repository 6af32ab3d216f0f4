import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { AuditError } from "../errors.ts";
import { EVENT_BYTES_MAX } from "./audit-chain.ts";
import { GENESIS_HASH, hashEvent } from "./audit-event.ts";
import { describeShapeProblem } from "./event-line.ts";

export type ChainProblemKind =
  | "malformed"
  | "hash_mismatch"
  | "broken_link"
  | "sequence_gap"
  | "truncated_tail";

export interface ChainProblem {
  /** 1-based line of the log where the chain first goes wrong. */
  line: number;
  kind: ChainProblemKind;
  message: string;
}

export interface ChainVerification {
  ok: boolean;
  path: string;
  /** Events verified before the first problem (all of them when ok). */
  events: number;
  lastSequence: number;
  lastHash: string;
  problem: ChainProblem | null;
}

const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Recomputes every hash and link of an audit log and reports the first bad line and why.
 * With `headPath` (the vault's ledger.db, which records the head) it also detects whole lines cut
 * from the end, which a hash chain alone cannot. Reads in bounded chunks, so a log of any size
 * verifies in constant memory. Throws AuditError when the head exists but cannot be read now (another
 * process holds it locked past every retry, or it cannot be opened): that is no finding about the chain.
 */
export function verifyChain(path: string, options: { headPath?: string } = {}): ChainVerification {
  const state = { events: 0, lastSequence: 0, lastHash: GENESIS_HASH };
  const result = (problem: ChainProblem | null): ChainVerification => ({
    ok: problem === null,
    path,
    ...state,
    problem,
  });
  // The head is read first and only the bytes it covers are verified: lines after it belong to a
  // write still in progress (or to a crashed, uncommitted one), so a busy vault verifies cleanly.
  const recorded = options.headPath ? readRecordedHead(options.headPath) : { head: null };
  const head = "head" in recorded ? recorded.head : null;
  let lineNumber = 0;
  for (const { text, complete, oversized } of readLines(path, head?.bytes)) {
    lineNumber++;
    if (oversized) {
      return result({
        line: lineNumber,
        kind: "malformed",
        message: `the line is longer than ${EVENT_BYTES_MAX} bytes, which no usertrust writer produces`,
      });
    }
    if (!complete) {
      // The recorded head always ends a line: a log that holds every byte it covers yet has no line
      // ending there was rewritten before it, not cut.
      if (head !== null && logReachesHead(path, head)) {
        return result({
          line: lineNumber,
          kind: "hash_mismatch",
          message: `the vault recorded its last event as ending at byte ${head.bytes}, which falls inside this line: lines up to it were rewritten`,
        });
      }
      return result({
        line: lineNumber,
        kind: "truncated_tail",
        message: "the last line ends without a newline: the log was cut mid-event",
      });
    }
    const problem = checkLine(text, state.lastSequence, state.lastHash);
    if (problem) return result({ line: lineNumber, ...problem });
    const event = JSON.parse(text) as { sequence: number; hash: string };
    state.events++;
    state.lastSequence = event.sequence;
    state.lastHash = event.hash;
  }
  const headProblem =
    "problem" in recorded
      ? recorded.problem
      : compareWithHead(head, state, head !== null && logReachesHead(path, head));
  return result(headProblem ? { line: lineNumber + 1, ...headProblem } : null);
}

function checkLine(
  text: string,
  previousSequence: number,
  previousHash: string,
): Omit<ChainProblem, "line"> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { kind: "malformed", message: `not valid JSON (${(error as Error).message})` };
  }
  const shape = describeShapeProblem(value);
  if (shape) return { kind: "malformed", message: shape };
  const event = value as Parameters<typeof hashEvent>[0] & { hash: string };
  let expectedHash: string;
  try {
    expectedHash = hashEvent(event);
  } catch (error) {
    // JSON no writer produces (a number out of range, a lone surrogate, a deep nesting): edited.
    return {
      kind: "hash_mismatch",
      message: `the event was altered: its content cannot be hashed (${(error as Error).message})`,
    };
  }
  if (expectedHash !== event.hash) {
    return {
      kind: "hash_mismatch",
      message: `the event was altered: its content hashes to ${expectedHash}, not the recorded ${event.hash}`,
    };
  }
  if (event.previousHash !== previousHash) {
    return {
      kind: "broken_link",
      message: `previousHash ${event.previousHash} does not match the hash of the event before it (${previousHash}): an event was removed, inserted or moved`,
    };
  }
  if (event.sequence !== previousSequence + 1) {
    return { kind: "sequence_gap", message: `sequence ${event.sequence} follows ${previousSequence}` };
  }
  return null;
}

interface RecordedHead {
  sequence: number;
  hash: string;
  bytes: number;
}

/**
 * How long one read of the head waits for a lock another process holds: the last connection to
 * close checkpoints the WAL under an exclusive lock, which takes milliseconds on a vault.
 */
const HEAD_BUSY_TIMEOUT_MS = 500;
/** Reads of the head before giving up; SQLite reports some WAL contention as busy without waiting. */
const HEAD_READ_ATTEMPTS_MAX = 4;
const HEAD_RETRY_PAUSE_MS = 25;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** SQLite's primary result codes that decide how a failed read of the head is reported. */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/**
 * The head as the vault recorded it. A damaged ledger.db is a finding (cut-off events cannot be ruled
 * out); a head that cannot be read right now (another process holds the file locked past every
 * retry, or it cannot be opened at all) says nothing about the chain, so it throws AuditError
 * instead of reporting a problem that is not there.
 */
function readRecordedHead(
  headPath: string,
): { head: RecordedHead | null } | { problem: Omit<ChainProblem, "line"> } {
  if (!existsSync(headPath)) return { head: null };
  for (let attempt = 1; ; attempt++) {
    try {
      return { head: queryRecordedHead(headPath) };
    } catch (error) {
      const code = sqliteCode(error);
      if (code === SQLITE_CORRUPT || code === SQLITE_NOTADB) return { problem: damagedHead(headPath, error) };
      const busy = code === SQLITE_BUSY || code === SQLITE_LOCKED;
      if (!busy) throw unreadableHead(headPath, error);
      if (attempt >= HEAD_READ_ATTEMPTS_MAX) throw busyHead(headPath, error);
      Atomics.wait(SLEEPER, 0, 0, HEAD_RETRY_PAUSE_MS * attempt);
    }
  }
}

function queryRecordedHead(headPath: string): RecordedHead | null {
  const db = new DatabaseSync(headPath, { readOnly: true, timeout: HEAD_BUSY_TIMEOUT_MS });
  try {
    const recorded = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_head'")
      .get();
    const head = recorded
      ? (db.prepare("SELECT sequence, hash, bytes FROM audit_head WHERE id = 1").get() as
          | RecordedHead
          | undefined)
      : undefined;
    return head ?? null;
  } finally {
    db.close();
  }
}

function sqliteCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  // Extended result codes (SQLITE_BUSY_SNAPSHOT, …) keep the primary code in their low byte.
  return typeof code === "number" ? code & 0xff : undefined;
}

/**
 * The verified lines must end with the head's own event. A log shorter than the head lost events from
 * its end; one that holds every byte the head covers yet ends on another event was rewritten.
 */
function compareWithHead(
  head: RecordedHead | null,
  state: { lastSequence: number; lastHash: string },
  logHoldsHead: boolean,
): Omit<ChainProblem, "line"> | null {
  if (head === null) return null;
  if (head.sequence > state.lastSequence && !logHoldsHead) {
    return {
      kind: "truncated_tail",
      message: `the log ends at event ${state.lastSequence} but the vault recorded event ${head.sequence}: events were cut from the end`,
    };
  }
  if (head.sequence !== state.lastSequence || head.hash !== state.lastHash) {
    return {
      kind: "hash_mismatch",
      message: `the log's event ${state.lastSequence} (hash ${state.lastHash}) differs from the event ${head.sequence} (hash ${head.hash}) the vault recorded: the log was rewritten`,
    };
  }
  return null;
}

function damagedHead(headPath: string, error: unknown): Omit<ChainProblem, "line"> {
  return {
    kind: "malformed",
    message: `the vault's record of the chain head (${headPath}) is damaged (${(error as Error).message}), so cut-off events cannot be ruled out`,
  };
}

function busyHead(headPath: string, error: unknown): AuditError {
  const waitedMs = HEAD_BUSY_TIMEOUT_MS * HEAD_READ_ATTEMPTS_MAX;
  return new AuditError(
    `could not read the vault's record of the chain head (${headPath}) now: another process kept it ` +
      `locked for over ${waitedMs} ms (${(error as Error).message}). Nothing is known to be wrong with the ` +
      "chain; run the verification again in a moment.",
    { cause: error },
  );
}

function unreadableHead(headPath: string, error: unknown): AuditError {
  return new AuditError(
    `could not read the vault's record of the chain head (${headPath}): ${(error as Error).message}. ` +
      "Nothing is known to be wrong with the chain; check that the file is readable by this user " +
      "and try again.",
    { cause: error },
  );
}

/** Writers only append after the head (or set aside bytes past it), so a log this long still holds all it covers. */
function logReachesHead(path: string, head: RecordedHead): boolean {
  return (statSync(path, { throwIfNoEntry: false })?.size ?? 0) >= head.bytes;
}

/** Yields the log's lines; the last one is `complete: false` when the file does not end with a newline. */
function* readLines(
  path: string,
  bytesMax = Number.POSITIVE_INFINITY,
): Generator<{ text: string; complete: boolean; oversized?: true }> {
  // A vault that never recorded an event has no log yet; the head check still catches a deleted one.
  if (!existsSync(path)) return;
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(READ_CHUNK_BYTES);
    let carry = Buffer.alloc(0);
    let remaining = bytesMax;
    for (;;) {
      const read = readSync(fd, buffer, 0, Math.min(buffer.length, remaining), null);
      remaining -= read;
      if (read === 0) break;
      let chunk = Buffer.concat([carry, buffer.subarray(0, read)]);
      let newline = chunk.indexOf(0x0a);
      while (newline !== -1) {
        yield { text: chunk.subarray(0, newline).toString("utf8"), complete: true };
        chunk = chunk.subarray(newline + 1);
        newline = chunk.indexOf(0x0a);
      }
      carry = Buffer.from(chunk);
      // No writer produces a longer line; stop rather than buffer an unbounded one (a zero-filled tail, say).
      if (carry.length > EVENT_BYTES_MAX) {
        yield { text: "", complete: true, oversized: true };
        return;
      }
    }
    if (carry.length > 0) yield { text: carry.toString("utf8"), complete: false };
  } finally {
    closeSync(fd);
  }
}
