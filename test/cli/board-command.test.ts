import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createBoard } from "../../src/core/board/board.ts";
import { cliInProcess, usertrust } from "../support/run-cli.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/* Spec (Board History): the history "can be inspected via the CLI or programmatically". */

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const boardConfig = {
  enabled: true,
  vetoThreshold: "medium" as const,
  escalation: "block" as const,
  maxHistory: 30,
};

/** A vault whose board reviewed `count` operations: approved ones, and every third escalated. */
function reviewedVault(count: number): ReturnType<typeof makeTempVault> {
  const vault = makeTempVault({ budget: 100_000, board: boardConfig });
  cleanups.push(vault.cleanup);
  const board = createBoard(vault.paths.root, { maxHistory: boardConfig.maxHistory });
  for (let index = 1; index <= count; index++) {
    const context = index % 3 === 0 ? { requestsLastMinute: 600 } : {};
    board.reviewNow("spend", `actor-${index}`, "model call", { context });
  }
  board.close();
  return vault;
}

describe("usertrust board", () => {
  it("is listed in --help", async () => {
    const help = await cliInProcess("--help");
    expect(help.stdout).toMatch(/^ {2}board \[--limit N\]/m);
    expect(help.stdout).toContain("--limit N");
  });

  it("prints the totals and the newest reviews, oldest first", async () => {
    const vault = reviewedVault(25);
    const run = await cliInProcess("board", "--vault-base", vault.base);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    const lines = run.stdout.split("\n");
    expect(lines[0]).toBe(`Board of ${join(vault.paths.root, "board")}`);
    expect(lines[1]).toBe("  reviews   25 (approved 17, blocked 0, escalated 8)");
    expect(lines[2]).toBe(
      "  concerns  hallucination 0, bias 0, safety 0, scope_creep 0, resource_abuse 8, policy_violation 0",
    );
    expect(lines[3]).toBe("The newest 20 of 25 reviews, oldest first:");
    expect(lines[4]).toMatch(
      /^ {2}#6 +\S+Z +spend +actor-6 +escalated +alpha approve, beta abstain +resource_abuse medium$/,
    );
    expect(lines[23]).toMatch(/^ {2}#25 +\S+Z +spend +actor-25 +approved +alpha approve, beta approve +-$/);
  });

  it("--limit N lists the newest N; --json prints the stats and those entries", async () => {
    const vault = reviewedVault(5);
    const text = await cliInProcess("board", "--limit", "2", "--vault-base", vault.base);
    expect(text.stdout).toContain("The newest 2 of 5 reviews, oldest first:");
    expect(text.stdout).toMatch(/#4 .*\n {2}#5 /);

    const json = await cliInProcess("board", "--json", "--limit", "2", "--vault-base", vault.base);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({
      vault: vault.paths.root,
      board: join(vault.paths.root, "board"),
      stats: { totalReviews: 5, approved: 4, blocked: 0, escalated: 1 },
    });
    expect(report.history.map((entry: { seq: number }) => entry.seq)).toEqual([4, 5]);
    expect(report.history[0]).toMatchObject({
      kind: "spend",
      actor: "actor-4",
      votes: { alpha: "approve", beta: "approve" },
    });
  });

  it("says so when the board has reviewed nothing since its history was started", async () => {
    const vault = reviewedVault(0);
    const run = await cliInProcess("board", "--vault-base", vault.base);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      / {2}reviews {3}0 \(approved 0, blocked 0, escalated 0\)\n.*\nNo reviews in the history\.\n$/,
    );
  });

  it("exits 2 when the vault has no board history, creating nothing", async () => {
    const vault = makeTempVault({ budget: 100 });
    cleanups.push(vault.cleanup);
    const run = await cliInProcess("board", "--vault-base", vault.base);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^usertrust board: no board history at .*board.enabled/);
    expect(existsSync(join(vault.paths.root, "board"))).toBe(false);
  });

  it.each(["0", "-1", "2.5", "many", "31"])("exits 2 on --limit %s, naming the range", async (limit) => {
    const vault = reviewedVault(1);
    const run = await cliInProcess("board", `--limit=${limit}`, "--vault-base", vault.base);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `usertrust board: --limit must be a whole number from 1 to 30 (board.maxHistory), got "${limit}"\n`,
    );
  });

  it("shows the caller's control characters in an actor as ?", async () => {
    const vault = reviewedVault(0);
    const board = createBoard(vault.paths.root);
    board.reviewNow("spend", "evil\u001b[2Jactor\nnext", "model call");
    board.close();
    const run = await cliInProcess("board", "--vault-base", vault.base);
    expect(run.stdout).toContain("evil?[2Jactor?next");
    expect(run.stdout).not.toContain("\u001b");
  });

  it("runs as the real command", async () => {
    const vault = reviewedVault(2);
    const run = await usertrust("board", "--json", "--vault-base", vault.base);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).stats.totalReviews).toBe(2);
  });
});
