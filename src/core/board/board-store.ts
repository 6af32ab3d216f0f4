import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { UsertrustError } from "../errors.ts";
import { type BoardHistoryEntry, type BoardStats, CONCERN_TYPES, type ConcernType } from "./board-types.ts";

export const SESSION_FILE_NAME = "session.json";
export const HISTORY_FILE_NAME = "history.jsonl";
/** session.json is rewritten at most this often on the review path (plus on trim and flush). */
export const SESSION_WRITE_INTERVAL_MS = 1_000;

const count = z.number().int().nonnegative();
const severity = z.enum(["critical", "high", "medium", "low", "info"]);
const decision = z.enum(["approved", "blocked", "escalated"]);
const vote = z.enum(["approve", "veto", "abstain"]);

const statsSchema = z.object({
  totalReviews: count,
  approved: count,
  blocked: count,
  escalated: count,
  concernCounts: z.record(z.string(), count),
});

const sessionSchema = z.object({
  version: z.literal(1),
  startedAt: z.string(),
  lastReviewAt: z.string().nullable(),
  /** The seq of the last review these stats include; later history lines are replayed on open. */
  lastSeq: count,
  stats: statsSchema,
});

type Session = z.infer<typeof sessionSchema>;

const historyEntrySchema = z.object({
  seq: z.number().int().positive(),
  timestamp: z.string(),
  kind: z.string(),
  actor: z.string(),
  decision,
  votes: z.object({ alpha: vote, beta: vote }),
  concerns: z.array(z.object({ type: z.enum(CONCERN_TYPES as [ConcernType, ...ConcernType[]]), severity })),
});

/**
 * The board's files in `<vault>/board/`:
 *
 * - `history.jsonl`: one line per review, appended (one small O_APPEND write per review, no rewrite).
 *   It is capped at `maxHistory` entries without rewriting on every append: once it holds more than
 *   2 × maxHistory lines it is rewritten (temp file + rename) to the newest maxHistory, so the file
 *   never exceeds 2 × maxHistory lines and `history()` never returns more than maxHistory.
 * - `session.json`: the running stats since the session started, written atomically (temp file +
 *   rename). Rewriting it on every review would cost more than the whole review, so it is written
 *   at most once per SESSION_WRITE_INTERVAL_MS, before every history trim, and on flush(). It records
 *   the seq of the last review it counts; on open, history lines after that seq are replayed, so a
 *   crash loses no counts (the trim writes the session first, so no unreplayed line is ever dropped).
 *
 * A corrupt session.json is kept as `session.json.corrupt-<time>` and the session starts fresh from
 * whatever the history still holds; unreadable history lines are skipped. One board per vault at a
 * time: two writers on one vault keep every history line but the last session write wins.
 */
export class BoardStore {
  readonly dir: string;
  readonly sessionPath: string;
  readonly historyPath: string;
  readonly #maxHistory: number;
  readonly #now: () => number;
  #session: Session;
  #historyLines: number;
  #sessionWrittenAtMs = 0;

  constructor(dir: string, maxHistory: number, now: () => number) {
    this.dir = dir;
    this.sessionPath = join(dir, SESSION_FILE_NAME);
    this.historyPath = join(dir, HISTORY_FILE_NAME);
    this.#maxHistory = maxHistory;
    this.#now = now;
    mkdirSync(dir, { recursive: true });
    this.#session = this.#loadSession();
    const history = this.#readHistory();
    this.#historyLines = history.lines;
    for (const entry of history.entries) {
      if (entry.seq > this.#session.lastSeq) this.#count(entry);
    }
    this.#writeSession();
  }

  /** Appends one review to the history and counts it. Returns the entry as written. */
  record(review: Omit<BoardHistoryEntry, "seq">): BoardHistoryEntry {
    const entry: BoardHistoryEntry = { seq: this.#session.lastSeq + 1, ...review };
    try {
      appendFileSync(this.historyPath, `${JSON.stringify(entry)}\n`);
    } catch (error) {
      throw storeError(this.historyPath, error);
    }
    this.#count(entry);
    this.#historyLines += 1;
    if (this.#historyLines > 2 * this.#maxHistory) this.#trimHistory();
    else if (this.#now() - this.#sessionWrittenAtMs >= SESSION_WRITE_INTERVAL_MS) this.#writeSession();
    return entry;
  }

  stats(): BoardStats {
    const { stats } = this.#session;
    return { ...stats, concernCounts: { ...stats.concernCounts } };
  }

  /** The newest `limit` entries (at most maxHistory), oldest first. */
  history(limit = this.#maxHistory): BoardHistoryEntry[] {
    const keep = Math.min(Math.floor(limit), this.#maxHistory);
    if (!(keep > 0)) return [];
    return this.#readHistory().entries.slice(-keep);
  }

  /** Writes session.json now (call it when the board's owner shuts down). */
  flush(): void {
    this.#writeSession();
  }

  #count(entry: BoardHistoryEntry): void {
    const session = this.#session;
    const { stats } = session;
    stats.totalReviews += 1;
    stats[entry.decision] += 1;
    for (const concern of entry.concerns) {
      stats.concernCounts[concern.type] = (stats.concernCounts[concern.type] ?? 0) + 1;
    }
    session.lastSeq = Math.max(session.lastSeq, entry.seq);
    session.lastReviewAt = entry.timestamp;
  }

  #loadSession(): Session {
    let text: string;
    try {
      text = readFileSync(this.sessionPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return this.#freshSession();
      throw storeError(this.sessionPath, error);
    }
    const parsed = sessionSchema.safeParse(parseJson(text));
    if (parsed.success) {
      for (const type of CONCERN_TYPES) parsed.data.stats.concernCounts[type] ??= 0;
      return parsed.data;
    }
    const stamp = new Date(this.#now()).toISOString().replaceAll(":", "-");
    try {
      renameSync(this.sessionPath, `${this.sessionPath}.corrupt-${stamp}`);
    } catch (error) {
      throw storeError(this.sessionPath, error);
    }
    return this.#freshSession();
  }

  #freshSession(): Session {
    const concernCounts: Record<string, number> = {};
    for (const type of CONCERN_TYPES) concernCounts[type] = 0;
    return {
      version: 1,
      startedAt: new Date(this.#now()).toISOString(),
      lastReviewAt: null,
      lastSeq: 0,
      stats: { totalReviews: 0, approved: 0, blocked: 0, escalated: 0, concernCounts },
    };
  }

  #writeSession(): void {
    writeAtomically(this.sessionPath, `${JSON.stringify(this.#session, null, 2)}\n`);
    this.#sessionWrittenAtMs = this.#now();
  }

  /**
   * Keeps the newest maxHistory lines as they are (no parsing: this runs on the review path, once
   * per maxHistory reviews). The session goes first, so no line it has not counted is dropped.
   */
  #trimHistory(): void {
    this.#writeSession();
    const kept = this.#readHistoryText()
      .split("\n")
      .filter((line) => line.trim() !== "")
      .slice(-this.#maxHistory);
    writeAtomically(this.historyPath, kept.map((line) => `${line}\n`).join(""));
    this.#historyLines = kept.length;
  }

  #readHistory(): { entries: BoardHistoryEntry[]; lines: number } {
    const entries: BoardHistoryEntry[] = [];
    let lines = 0;
    for (const line of this.#readHistoryText().split("\n")) {
      if (line.trim() === "") continue;
      lines += 1;
      const parsed = historyEntrySchema.safeParse(parseJson(line));
      if (parsed.success) entries.push(parsed.data);
    }
    return { entries, lines };
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
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
