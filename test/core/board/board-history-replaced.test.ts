import { appendFileSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createBoard } from "../../../src/core/board/board.ts";
import { makeTempVault } from "../../support/temp-vault.ts";
import { killWorker, runWorkersTogether, type Worker } from "../../support/worker-process.ts";
import type { ReviewerOptions, ReviewerSummary } from "../../support/workers/board-reviewer.ts";

/*
 * A process remembers where history.jsonl ended and, while the file is the one it saw, reads only
 * what others appended since. A trim in another process replaces the file (temp file + rename); on
 * ext4 and similar file systems the next trim's temp file often gets the inode number the first one
 * freed, so the replaced file can have the old inode, be bigger than before, or even have the same
 * size and (on a coarse file clock) the same mtime. Each review must still get the vault's next seq.
 */

const REVIEWER = fileURLToPath(new URL("../../support/workers/board-reviewer.ts", import.meta.url));
const TIMEOUTS = { startupMs: 15_000, runMs: 20_000 };
const workers: Worker[] = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function seqsOf(historyPath: string): number[] {
  return readFileSync(historyPath, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { seq: number }).seq);
}

function vaultRoot(): string {
  const vault = makeTempVault({ budget: 1_000 });
  cleanups.push(vault.cleanup);
  return vault.paths.root;
}

/** Rewrites the file in place (so it keeps its inode), each line's seq moved by `seqFor`. */
function rewriteSeqsInPlace(historyPath: string, seqFor: (seq: number) => number): void {
  const lines = readFileSync(historyPath, "utf8").split("\n").filter(Boolean);
  const moved = lines.map((line) =>
    line.replace(/^\{"seq":(\d+)/, (_, seq: string) => `{"seq":${seqFor(Number(seq))}`),
  );
  writeFileSync(historyPath, moved.map((line) => `${line}\n`).join(""));
}

describe("board seqs while other processes change the history", () => {
  it("reads the whole file when it has the old inode and has grown, and gives the next seq", () => {
    const root = vaultRoot();
    const historyPath = join(root, "board", "history.jsonl");
    const board = createBoard(root);
    for (let index = 0; index < 5; index++) board.reviewNow("spend", "here", "model call");
    const before = statSync(historyPath);

    rewriteSeqsInPlace(historyPath, (seq) => seq + 20);
    expect(statSync(historyPath).ino).toBe(before.ino);
    expect(statSync(historyPath).size).toBeGreaterThan(before.size);
    board.reviewNow("spend", "here", "model call");
    board.close();

    expect(seqsOf(historyPath)).toEqual([21, 22, 23, 24, 25, 26]);
  });

  it("reads the whole file when it has the old inode, size and mtime, and gives the next seq", () => {
    const root = vaultRoot();
    const historyPath = join(root, "board", "history.jsonl");
    const board = createBoard(root);
    for (let index = 0; index < 20; index++) board.reviewNow("spend", "here", "model call");
    const before = statSync(historyPath);

    // Seqs 10 to 20 become 80 to 90: the same number of digits, so the same size.
    rewriteSeqsInPlace(historyPath, (seq) => (seq >= 10 ? seq + 70 : seq));
    utimesSync(historyPath, before.atimeMs / 1_000, before.mtimeMs / 1_000);
    const after = statSync(historyPath);
    expect([after.ino, after.size, after.mtimeMs]).toEqual([before.ino, before.size, before.mtimeMs]);
    board.reviewNow("spend", "here", "model call");
    board.close();

    expect(seqsOf(historyPath).at(-1)).toBe(91);
  });

  it("starts on a new line after another process died mid-append, and keeps giving the next seq", () => {
    const root = vaultRoot();
    const historyPath = join(root, "board", "history.jsonl");
    const board = createBoard(root);
    board.reviewNow("spend", "here", "model call");
    board.reviewNow("spend", "here", "model call");
    appendFileSync(historyPath, '{"seq":3,"timest');
    board.reviewNow("spend", "here", "model call");
    board.reviewNow("spend", "here", "model call");

    expect(readFileSync(historyPath, "utf8").split("\n")[2]).toBe('{"seq":3,"timest');
    expect(board.history().map((entry) => entry.seq)).toEqual([1, 2, 3, 4]);
    board.close();
  });

  it("gives this process's next review the vault's next seq after another process trimmed twice", async () => {
    const rounds: string[] = [];
    // Each round is a fresh vault; inode reuse is up to the file system, so try a few times.
    for (const otherReviews of [18, 36, 18, 36, 18, 36]) {
      const root = vaultRoot();
      const historyPath = join(root, "board", "history.jsonl");
      const here = createBoard(root, { maxHistory: 5 });
      for (let index = 0; index < 5; index++) here.reviewNow("spend", "here", "model call", { context: {} });
      const inodeBefore = statSync(historyPath).ino;

      const other: ReviewerOptions = {
        vaultRoot: root,
        actor: "other",
        reviews: otherReviews,
        maxHistory: 5,
      };
      await runWorkersTogether<ReviewerSummary>(workers, REVIEWER, [other], TIMEOUTS);
      const inodeAfter = statSync(historyPath).ino;

      here.reviewNow("spend", "here", "model call", { context: {} });
      const seqs = seqsOf(historyPath);
      const stats = here.stats();
      here.close();
      rounds.push(`inode ${inodeBefore === inodeAfter ? "reused" : "new"}: seqs ${seqs.join(",")}`);

      const total = 5 + otherReviews + 1;
      expect(seqs.at(-1), rounds.join("\n")).toBe(total);
      expect(stats.totalReviews, rounds.join("\n")).toBe(total);
      if (inodeBefore === inodeAfter) return;
    }
  }, 120_000);
});
