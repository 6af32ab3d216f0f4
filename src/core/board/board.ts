import { join } from "node:path";
import { UsertrustError } from "../errors.ts";
import { reviewOperation } from "./board-review.ts";
import { acquireBoardStore, releaseBoardStore } from "./board-store.ts";
import type { BoardHistoryEntry, BoardReviewResult, BoardStats, VetoThreshold } from "./board-types.ts";

export const DEFAULT_MAX_HISTORY = 100;
export const MAX_HISTORY_LIMIT = 100_000;
export const DEFAULT_VETO_THRESHOLD: VetoThreshold = "medium";
const VETO_THRESHOLDS: readonly VetoThreshold[] = ["low", "medium", "high", "critical"];

export interface BoardOptions {
  /** History entries kept in `board/history.jsonl` (default 100; the file holds up to twice that). */
  maxHistory?: number;
  /** How strict the directors are (default "medium"); see LEAST_VETOING_SEVERITY in directors.ts. */
  vetoThreshold?: VetoThreshold;
  /** Milliseconds since the epoch; review timestamps and session writes read it. */
  now?: () => number;
}

export interface ReviewOptions {
  /** The scopes the operation declares it stays within, e.g. ["production"] or ["read-only"]. */
  scope?: readonly string[];
  /** What the detectors read; see review-subject.ts for the fields a model or tool call carries. */
  context?: Readonly<Record<string, unknown>>;
}

export interface Board {
  readonly vetoThreshold: VetoThreshold;
  readonly maxHistory: number;
  /**
   * Reviews an operation now, records it in the history and the stats, and returns the decision.
   * Throws BOARD_CLOSED once the board is closed.
   */
  reviewNow(kind: string, actor: string, description: string, options?: ReviewOptions): BoardReviewResult;
  /** Every review on the vault since the session started. Throws BOARD_CLOSED once the board is closed. */
  stats(): BoardStats;
  /** The newest `limit` reviews (default and at most maxHistory), oldest first. Reads only. */
  history(limit?: number): BoardHistoryEntry[];
  /** Writes the session state now; does nothing once the board is closed. */
  flush(): void;
  /**
   * Lets go of the vault's board files; the last board of the vault in this process to close
   * writes the session state. Call it when the owner of the board shuts down. Idempotent. A closed
   * board writes nothing more, so it never recreates a vault folder deleted after it closed.
   */
  close(): void;
}

/**
 * The Board of Directors of one vault: two directors review every operation with six heuristic
 * detectors (no model calls), and the decision is kept in `<vaultPath>/board/`. `vaultPath` is the
 * `.usertrust` folder. Every board on a vault, in this process or another, adds to the same history
 * and stats.
 */
export function createBoard(vaultPath: string, options: BoardOptions = {}): Board {
  const maxHistory = options.maxHistory ?? DEFAULT_MAX_HISTORY;
  const vetoThreshold = options.vetoThreshold ?? DEFAULT_VETO_THRESHOLD;
  assertOptions(maxHistory, vetoThreshold);
  const now = options.now ?? Date.now;
  const store = acquireBoardStore(join(vaultPath, "board"));
  let closed = false;
  try {
    // Counts what earlier sessions left unwritten (a crash) and sets aside a corrupt session.json.
    store.flush(now());
  } catch (error) {
    releaseBoardStore(store, now());
    throw error;
  }

  return {
    vetoThreshold,
    maxHistory,
    reviewNow(kind, actor, description, reviewOptions = {}) {
      if (closed) throw closedError("records no more reviews");
      const review = reviewOperation(
        { kind, description, scope: reviewOptions.scope ?? [], context: reviewOptions.context ?? {} },
        vetoThreshold,
        new Date(now()).toISOString(),
      );
      store.record(
        {
          timestamp: review.timestamp,
          kind,
          actor,
          decision: review.decision,
          votes: { alpha: review.reviews[0].vote, beta: review.reviews[1].vote },
          concerns: review.concerns.map((concern) => ({ type: concern.type, severity: concern.severity })),
        },
        maxHistory,
        now(),
      );
      return review;
    },
    stats() {
      if (closed) throw closedError("reads no more stats");
      return store.stats(now());
    },
    history: (limit = maxHistory) => store.history(Math.min(limit, maxHistory)),
    flush() {
      if (!closed) store.flush(now());
    },
    close() {
      if (closed) return;
      closed = true;
      releaseBoardStore(store, now());
    },
  };
}

function closedError(what: string): UsertrustError {
  return new UsertrustError(
    "BOARD_CLOSED",
    `This board was closed, so it ${what}. Create a new one with createBoard().`,
  );
}

function assertOptions(maxHistory: number, vetoThreshold: VetoThreshold): void {
  if (!Number.isInteger(maxHistory) || maxHistory < 1 || maxHistory > MAX_HISTORY_LIMIT) {
    throw new UsertrustError(
      "BOARD_OPTIONS_INVALID",
      `maxHistory must be a whole number from 1 to ${MAX_HISTORY_LIMIT}, got ${maxHistory}. ` +
        `Leave it out for the default of ${DEFAULT_MAX_HISTORY} history entries.`,
    );
  }
  if (!VETO_THRESHOLDS.includes(vetoThreshold)) {
    throw new UsertrustError(
      "BOARD_OPTIONS_INVALID",
      `vetoThreshold must be one of ${VETO_THRESHOLDS.join(", ")}, got ${String(vetoThreshold)}.`,
    );
  }
}
