import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createBoard } from "../../../src/core/board/board.ts";
import { createEngine } from "../../../src/core/create-engine.ts";
import type { Engine } from "../../../src/core/engine.ts";
import { makeTempVault } from "../../support/temp-vault.ts";
import { killWorker, runWorkersTogether, type Worker } from "../../support/worker-process.ts";
import type { ReviewerOptions, ReviewerSummary } from "../../support/workers/board-reviewer.ts";

/*
 * Several clients on one vault (two trust() calls, an OpenAI and an Anthropic client, or the
 * workers of a server) each open their own engine and so their own board on the same
 * `.usertrust/board/`. They keep one history and one set of stats: each review gets the vault's
 * next seq, and `createBoard(vaultPath).stats()` gives the totals of all of them.
 */

const REVIEWER = fileURLToPath(new URL("../../support/workers/board-reviewer.ts", import.meta.url));
const TIMEOUTS = { startupMs: 15_000, runMs: 20_000 };

const cleanups: Array<() => void | Promise<void>> = [];
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const board = {
  enabled: true,
  vetoThreshold: "medium" as const,
  escalation: "allow" as const,
  maxHistory: 100,
};

function vault(): ReturnType<typeof makeTempVault> {
  const made = makeTempVault({ budget: 100_000, board });
  cleanups.push(made.cleanup);
  return made;
}

async function engineOn(base: string): Promise<Engine> {
  const engine = await createEngine({ vaultBase: base, dryRun: true });
  cleanups.push(() => engine.close());
  return engine;
}

function historyLines(root: string): Array<{ seq: number; actor: string }> {
  return readFileSync(join(root, "board", "history.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { seq: number; actor: string });
}

function sessionOf(root: string): { lastSeq: number; stats: { totalReviews: number } } {
  return JSON.parse(readFileSync(join(root, "board", "session.json"), "utf8"));
}

describe("board state shared by two clients of one vault in one process", () => {
  async function twoClientsReview(): Promise<ReturnType<typeof makeTempVault>> {
    const made = vault();
    const first = await engineOn(made.base);
    const second = await engineOn(made.base);
    await first.reviewToolCall({ toolName: "search_docs", input: { q: "a" } });
    await second.reviewToolCall({ toolName: "search_docs", input: { q: "b" } });
    await first.reviewToolCall({ toolName: "search_docs", input: { q: "c" } });
    await first.close();
    await second.close();
    return made;
  }

  it("gives each review of either client its own history seq", async () => {
    const made = await twoClientsReview();
    const lines = historyLines(made.paths.root);
    expect(lines).toHaveLength(3);
    expect(lines.map((line) => line.seq)).toEqual([1, 2, 3]);
  });

  it("counts every review of both clients in createBoard(vaultPath).stats() and session.json", async () => {
    const made = await twoClientsReview();
    expect(sessionOf(made.paths.root)).toMatchObject({ lastSeq: 3, stats: { totalReviews: 3 } });
    expect(createBoard(made.paths.root).history()).toHaveLength(3);
    expect(createBoard(made.paths.root).stats()).toMatchObject({ totalReviews: 3, approved: 3 });
  });

  it("keeps counting across boards that open and close on the vault in turn", () => {
    const root = vault().paths.root;
    const first = createBoard(root);
    const second = createBoard(root);
    first.reviewNow("spend", "a", "call");
    second.reviewNow("spend", "b", "call");
    first.close();
    second.reviewNow("spend", "b", "call");
    second.close();
    const third = createBoard(root);
    third.reviewNow("spend", "c", "call");
    expect(third.history().map((entry) => [entry.seq, entry.actor])).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "b"],
      [4, "c"],
    ]);
    expect(third.stats().totalReviews).toBe(4);
    third.close();
    expect(sessionOf(root)).toMatchObject({ lastSeq: 4, stats: { totalReviews: 4 } });
  });

  it("writes the session when the last board of the vault closes, and refuses reviews on a closed board", () => {
    const root = vault().paths.root;
    const first = createBoard(root);
    const second = createBoard(root);
    first.reviewNow("spend", "a", "call");
    first.reviewNow("spend", "a", "call");
    first.close();
    first.close();
    second.close();
    expect(sessionOf(root).stats.totalReviews).toBe(2);
    expect(() => first.reviewNow("spend", "a", "call")).toThrow(
      expect.objectContaining({ code: "BOARD_CLOSED" }),
    );
    expect(readdirSync(join(root, "board")).sort()).toEqual(["history.jsonl", "session.json"]);
  });

  it("trims the history by the maxHistory of the board that records, keeping every line of the others", () => {
    const root = vault().paths.root;
    const small = createBoard(root, { maxHistory: 3 });
    const large = createBoard(root, { maxHistory: 50 });
    for (let index = 0; index < 10; index++) {
      large.reviewNow("spend", "large", "call");
      small.reviewNow("spend", "small", "call");
    }
    const seqs = historyLines(root).map((line) => line.seq);
    expect(seqs.length).toBeLessThanOrEqual(6);
    expect(seqs).toEqual(seqs.map((_, index) => 21 - seqs.length + index));
    expect(large.stats().totalReviews).toBe(20);
    expect(small.history().map((entry) => entry.seq)).toEqual([18, 19, 20]);
  });
});

describe("board state shared by processes on one vault", () => {
  function reviewers(root: string, maxHistory: number): ReviewerOptions[] {
    return ["p1", "p2", "p3"].map((actor) => ({ vaultRoot: root, actor, reviews: 200, maxHistory }));
  }

  it("gives each of 600 reviews from three processes its own seq, 1 to 600", async () => {
    const root = vault().paths.root;
    const summaries = await runWorkersTogether<ReviewerSummary>(
      workers,
      REVIEWER,
      reviewers(root, 1_000),
      TIMEOUTS,
    );
    expect(summaries.map((summary) => summary.reviews)).toEqual([200, 200, 200]);
    const lines = historyLines(root);
    expect(lines.map((line) => line.seq)).toEqual(Array.from({ length: 600 }, (_, index) => index + 1));
    for (const actor of ["p1", "p2", "p3"]) {
      expect(lines.filter((line) => line.actor === actor)).toHaveLength(200);
    }
    expect(sessionOf(root)).toMatchObject({ lastSeq: 600, stats: { totalReviews: 600 } });
  });

  it("counts every review while the processes trim the history under one another", async () => {
    const root = vault().paths.root;
    await runWorkersTogether<ReviewerSummary>(workers, REVIEWER, reviewers(root, 25), TIMEOUTS);
    const seqs = historyLines(root).map((line) => line.seq);
    // Trimmed to the newest 25 once past 50, never dropping a line appended meanwhile.
    expect(seqs.length).toBeGreaterThanOrEqual(25);
    expect(seqs.length).toBeLessThanOrEqual(50);
    expect(seqs).toEqual(seqs.map((_, index) => 601 - seqs.length + index));
    expect(createBoard(root, { maxHistory: 25 }).stats()).toMatchObject({ totalReviews: 600, approved: 600 });
    expect(sessionOf(root)).toMatchObject({ lastSeq: 600, stats: { totalReviews: 600 } });
    expect(existsSync(join(root, "board", "board.lock"))).toBe(false);
  });
});
