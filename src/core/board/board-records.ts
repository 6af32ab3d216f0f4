import { z } from "zod";
import { type BoardHistoryEntry, CONCERN_TYPES, type ConcernType } from "./board-types.ts";

// What the board keeps on disk: session.json (totals, and how far into the history they read) and
// the lines of history.jsonl, with how a line adds to the totals.

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

export const sessionSchema = z.object({
  version: z.literal(1),
  startedAt: z.string(),
  lastReviewAt: z.string().nullable(),
  /** The seq of the last review these stats include; later history lines are counted on the next write. */
  lastSeq: count,
  /**
   * How far into history.jsonl (bytes) the stats have read, so the next write reads only what was
   * appended since. A hint: if the file no longer fits it, the whole file is read, and the seq
   * filter (lastSeq) keeps any line from being counted twice.
   */
  historyBytes: count.optional(),
  stats: statsSchema,
});

export type Session = z.infer<typeof sessionSchema>;

const historyEntrySchema = z.object({
  seq: z.number().int().positive(),
  timestamp: z.string(),
  kind: z.string(),
  actor: z.string(),
  decision,
  votes: z.object({ alpha: vote, beta: vote }),
  concerns: z.array(z.object({ type: z.enum(CONCERN_TYPES as [ConcernType, ...ConcernType[]]), severity })),
});

export function freshSession(nowMs: number): Session {
  const concernCounts: Record<string, number> = {};
  for (const type of CONCERN_TYPES) concernCounts[type] = 0;
  return {
    version: 1,
    startedAt: new Date(nowMs).toISOString(),
    lastReviewAt: null,
    lastSeq: 0,
    historyBytes: 0,
    stats: { totalReviews: 0, approved: 0, blocked: 0, escalated: 0, concernCounts },
  };
}

export function countEntry(session: Session, entry: BoardHistoryEntry): void {
  const { stats } = session;
  stats.totalReviews += 1;
  stats[entry.decision] += 1;
  for (const concern of entry.concerns) {
    stats.concernCounts[concern.type] = (stats.concernCounts[concern.type] ?? 0) + 1;
  }
  if (entry.seq > session.lastSeq) {
    session.lastSeq = entry.seq;
    session.lastReviewAt = entry.timestamp;
  }
}

export function parseEntry(line: string): BoardHistoryEntry | undefined {
  if (line.trim() === "") return undefined;
  const parsed = historyEntrySchema.safeParse(parseJson(line));
  return parsed.success ? parsed.data : undefined;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
