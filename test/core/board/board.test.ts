import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { createBoard } from "../../../src/core/board/board.ts";
import { reviewOperation } from "../../../src/core/board/board-review.ts";
import type { BoardDecision, DirectorVote, VetoThreshold } from "../../../src/core/board/board-types.ts";
import { UsertrustError } from "../../../src/core/errors.ts";

const folders: string[] = [];

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A `.usertrust` folder of its own for each test. */
function vaultFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "usertrust-board-"));
  folders.push(folder);
  return join(folder, ".usertrust");
}

/** A clock that only moves when told to. */
function fixedClock(start = Date.parse("2025-03-01T12:00:00.000Z")) {
  let nowMs = start;
  return {
    now: () => nowMs,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

// Context fields that make one director vote a certain way at vetoThreshold "medium" (veto on
// high and above, abstain on medium), without touching the other director's focus areas.
const ALPHA: Record<DirectorVote, Record<string, unknown>> = {
  approve: {},
  abstain: { piiKinds: ["email"] }, // policy_violation, medium
  veto: { injectionKinds: ["instruction_override"] }, // policy_violation, critical
};
const BETA: Record<DirectorVote, Record<string, unknown>> = {
  approve: {},
  abstain: { requestsLastMinute: 600 }, // resource_abuse, medium
  veto: { toolNames: ["delete_user"], allowedTools: ["search_docs"] }, // scope_creep, high
};

describe("board review", () => {
  it.each<[DirectorVote, DirectorVote, BoardDecision]>([
    ["approve", "approve", "approved"],
    ["veto", "veto", "blocked"],
    ["veto", "approve", "escalated"],
    ["approve", "veto", "escalated"],
    ["abstain", "abstain", "escalated"],
    ["approve", "abstain", "escalated"],
    ["abstain", "approve", "escalated"],
    ["veto", "abstain", "escalated"],
    ["abstain", "veto", "escalated"],
  ])("Alpha %s + Beta %s on a real call → %s", (alphaVote, betaVote, decision) => {
    const board = createBoard(vaultFolder());
    const result = board.reviewNow("spend", "user-123", "model call", {
      context: { ...ALPHA[alphaVote], ...BETA[betaVote] },
    });
    expect(result.reviews.map((review) => [review.director, review.vote])).toEqual([
      ["alpha", alphaVote],
      ["beta", betaVote],
    ]);
    expect(result.decision).toBe(decision);
    expect(result.requiresHumanEscalation).toBe(decision === "escalated");
  });

  it("runs the spec's example: a $0.50 request is approved at the default threshold, its low cost concern noted", () => {
    const board = createBoard(vaultFolder(), { maxHistory: 100 });
    const result = board.reviewNow("spend", "user-123", "Large model request", {
      scope: ["production"],
      context: { model: "claude-opus-4-6", estimatedCost: 5000 },
    });
    expect(result.concerns).toEqual([expect.objectContaining({ type: "resource_abuse", severity: "low" })]);
    expect(result.decision).toBe("approved");
    expect(result.reasoning).toMatch(/Alpha approve, Beta approve/);
    expect(result.reviews[1]?.reasoning).toMatch(/^Director Beta approves, noting resource_abuse \(low/);
    expect(board.history()[0]?.concerns).toEqual([{ type: "resource_abuse", severity: "low" }]);
  });

  // Rows: the severity of the concern each director sees; columns: vetoThreshold low, medium, high,
  // critical. At its veto level a director vetoes, one step below it abstains, further below it approves.
  const bothSee = {
    high: { piiKinds: ["credit_card"], ...BETA.veto },
    medium: { piiKinds: ["email"], requestsLastMinute: 600 },
    low: { policyWarnings: ["high-cost: estimate above 1000 UT"], requestsLastMinute: 150 },
  };
  it.each<[keyof typeof bothSee, BoardDecision[]]>([
    ["high", ["escalated", "blocked", "blocked", "blocked"]],
    ["medium", ["approved", "escalated", "blocked", "blocked"]],
    ["low", ["approved", "approved", "escalated", "blocked"]],
  ])(
    "blocks, escalates or approves a call where both directors see a %s concern depending on vetoThreshold",
    (severity, expected) => {
      const decisions = (["low", "medium", "high", "critical"] as const).map(
        (vetoThreshold) =>
          createBoard(vaultFolder(), { vetoThreshold }).reviewNow("spend", "u", "call", {
            context: bothSee[severity],
          }).decision,
      );
      expect(decisions).toEqual(expected);
    },
  );

  it("defaults to maxHistory 100 and vetoThreshold medium, and rejects bad options", () => {
    const board = createBoard(vaultFolder());
    expect([board.maxHistory, board.vetoThreshold]).toEqual([100, "medium"]);
    for (const options of [
      { maxHistory: 0 },
      { maxHistory: 2.5 },
      { vetoThreshold: "severe" as VetoThreshold },
    ]) {
      const attempt = () => createBoard(vaultFolder(), options);
      expect(attempt).toThrow(UsertrustError);
      expect(attempt).toThrow(expect.objectContaining({ code: "BOARD_OPTIONS_INVALID" }));
    }
  });
});

describe("board determinism", () => {
  const phrase = fc.constantFrom(
    "Make up citations.",
    "All immigrants are lazy.",
    "What is a lethal dose of aspirin?",
    "Should I sue my landlord?",
    "Write a haiku.",
    "Give exact figures with citations.",
    "Never say you don't know.",
  );
  const input = fc.record({
    kind: fc.constantFrom("spend", "tool_call"),
    description: fc.string(),
    scope: fc.array(fc.constantFrom("read-only", "staging", "production", "billing")),
    context: fc.record(
      {
        prompt: fc.array(fc.oneof(phrase, fc.string()), { maxLength: 6 }).map((parts) => parts.join(" ")),
        estimatedCost: fc.integer({ min: 0, max: 200_000 }),
        budgetRemaining: fc.integer({ min: -10, max: 1_000_000 }),
        maxOutputTokens: fc.integer({ min: 1, max: 2_000_000 }),
        requestsLastMinute: fc.nat(20_000),
        toolNames: fc.array(fc.constantFrom("search", "delete_user", "files.write", "get_user")),
        allowedTools: fc.array(fc.constantFrom("search", "get_user")),
        piiKinds: fc.array(fc.constantFrom("email", "ssn", "phone")),
        injectionKinds: fc.array(fc.constantFrom("instruction_override")),
        policyWarnings: fc.array(fc.constantFrom("high-cost", { rule: "r", severity: "high" })),
        toolName: fc.string(),
        arguments: fc.jsonValue(),
      },
      { requiredKeys: [] },
    ),
  });
  const threshold = fc.constantFrom<VetoThreshold>("low", "medium", "high", "critical");

  it("gives the same result for the same input", () => {
    fc.assert(
      fc.property(input, threshold, (call, vetoThreshold) => {
        const timestamp = "2025-03-01T12:00:00.000Z";
        expect(reviewOperation(call, vetoThreshold, timestamp)).toEqual(
          reviewOperation(call, vetoThreshold, timestamp),
        );
      }),
    );
  });

  it("finds the same concerns whatever the threshold; only the votes change", () => {
    fc.assert(
      fc.property(input, threshold, threshold, (call, first, second) => {
        const at = "2025-03-01T12:00:00.000Z";
        expect(reviewOperation(call, first, at).concerns).toEqual(reviewOperation(call, second, at).concerns);
      }),
    );
  });

  it("gives two boards with the same clock the same results, review after review", () => {
    const clock = fixedClock();
    const first = createBoard(vaultFolder(), { now: clock.now });
    const second = createBoard(vaultFolder(), { now: clock.now });
    fc.assert(
      fc.property(input, (call) => {
        const options = { scope: call.scope, context: call.context };
        expect(first.reviewNow(call.kind, "u", call.description, options)).toEqual(
          second.reviewNow(call.kind, "u", call.description, options),
        );
      }),
      { numRuns: 50 },
    );
    expect(first.stats()).toEqual(second.stats());
  });
});

describe("board persistence", () => {
  function reviewMix(board: ReturnType<typeof createBoard>): void {
    board.reviewNow("spend", "alice", "model call", { context: {} });
    board.reviewNow("spend", "bob", "model call", { context: { ...ALPHA.veto, ...BETA.veto } });
    board.reviewNow("spend", "carol", "model call", { context: { ...BETA.abstain } });
  }

  it("counts decisions and concerns in stats()", () => {
    const board = createBoard(vaultFolder());
    reviewMix(board);
    expect(board.stats()).toEqual({
      totalReviews: 3,
      approved: 1,
      blocked: 1,
      escalated: 1,
      concernCounts: {
        hallucination: 0,
        bias: 0,
        safety: 0,
        scope_creep: 1,
        resource_abuse: 1,
        policy_violation: 1,
      },
    });
  });

  it("keeps the stats for the next board on the same folder, even without a flush", () => {
    const vault = vaultFolder();
    const clock = fixedClock();
    const board = createBoard(vault, { now: clock.now });
    reviewMix(board);
    const reopened = createBoard(vault, { now: clock.now });
    expect(reopened.stats()).toEqual(board.stats());
    reopened.reviewNow("spend", "dave", "model call");
    expect(reopened.stats().totalReviews).toBe(4);
    expect(reopened.history().map((entry) => entry.seq)).toEqual([1, 2, 3, 4]);
  });

  it("writes session.json with the stats since the session started", () => {
    const vault = vaultFolder();
    const clock = fixedClock();
    const board = createBoard(vault, { now: clock.now });
    reviewMix(board);
    clock.advance(5_000);
    board.flush();
    const session = JSON.parse(readFileSync(join(vault, "board", "session.json"), "utf8"));
    expect(session).toMatchObject({
      startedAt: "2025-03-01T12:00:00.000Z",
      lastReviewAt: "2025-03-01T12:00:00.000Z",
      stats: board.stats(),
    });
    expect(readdirSync(join(vault, "board")).sort()).toEqual(["history.jsonl", "session.json"]);
  });

  it("rewrites session.json while reviewing, at most once a second", () => {
    const vault = vaultFolder();
    const clock = fixedClock();
    const board = createBoard(vault, { now: clock.now });
    const sessionReviews = () =>
      JSON.parse(readFileSync(join(vault, "board", "session.json"), "utf8")).stats.totalReviews;
    board.reviewNow("spend", "u", "call");
    expect(sessionReviews()).toBe(0);
    clock.advance(1_000);
    board.reviewNow("spend", "u", "call");
    expect(sessionReviews()).toBe(2);
  });

  it("appends one line per review with decision, votes, concern types and severities, and no prompt text", () => {
    const vault = vaultFolder();
    const board = createBoard(vault, { now: fixedClock().now });
    board.reviewNow("spend", "user-123", "model call", {
      context: { prompt: "What is a lethal dose of Zanzibar-7731?" },
    });
    const text = readFileSync(join(vault, "board", "history.jsonl"), "utf8");
    expect(text).not.toContain("Zanzibar");
    expect(
      text
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line)),
    ).toEqual([
      {
        seq: 1,
        timestamp: "2025-03-01T12:00:00.000Z",
        kind: "spend",
        actor: "user-123",
        decision: "escalated",
        votes: { alpha: "veto", beta: "approve" },
        concerns: [{ type: "safety", severity: "critical" }],
      },
    ]);
  });

  it("caps the history at maxHistory entries, newest kept, and never lets the file pass twice that", () => {
    const vault = vaultFolder();
    const board = createBoard(vault, { maxHistory: 5 });
    const historyFile = join(vault, "board", "history.jsonl");
    let longest = 0;
    for (let i = 0; i < 23; i++) {
      board.reviewNow("spend", `actor-${i}`, "model call");
      longest = Math.max(longest, readFileSync(historyFile, "utf8").trim().split("\n").length);
    }
    expect(longest).toBe(10);
    expect(board.history().map((entry) => entry.actor)).toEqual([
      "actor-18",
      "actor-19",
      "actor-20",
      "actor-21",
      "actor-22",
    ]);
    expect(board.history(2).map((entry) => entry.actor)).toEqual(["actor-21", "actor-22"]);
    expect(board.history(50)).toHaveLength(5);
    expect(board.history(0)).toEqual([]);
    expect(board.history(Number.NaN)).toEqual([]);
    expect(board.stats().totalReviews).toBe(23);
    expect(createBoard(vault, { maxHistory: 5 }).stats().totalReviews).toBe(23);
  });

  it("keeps a corrupt session.json aside and starts fresh from the history it still has", () => {
    const vault = vaultFolder();
    const board = createBoard(vault);
    reviewMix(board);
    board.flush();
    const sessionFile = join(vault, "board", "session.json");
    writeFileSync(sessionFile, '{"version": 1, "stats": tru');

    const reopened = createBoard(vault);

    expect(reopened.stats()).toMatchObject({ totalReviews: 3, approved: 1, blocked: 1, escalated: 1 });
    const kept = readdirSync(join(vault, "board")).filter((name) => name.startsWith("session.json.corrupt-"));
    expect(kept).toHaveLength(1);
    expect(readFileSync(join(vault, "board", kept[0] ?? ""), "utf8")).toBe('{"version": 1, "stats": tru');
    expect(JSON.parse(readFileSync(sessionFile, "utf8")).stats.totalReviews).toBe(3);
  });

  it("treats a session.json of the wrong shape as corrupt", () => {
    const vault = vaultFolder();
    createBoard(vault).reviewNow("spend", "u", "call");
    writeFileSync(
      join(vault, "board", "session.json"),
      JSON.stringify({ version: 1, stats: { totalReviews: -4 } }),
    );
    expect(createBoard(vault).stats().totalReviews).toBe(1);
    expect(readdirSync(join(vault, "board")).some((name) => name.startsWith("session.json.corrupt-"))).toBe(
      true,
    );
  });

  it("skips unreadable history lines", () => {
    const vault = vaultFolder();
    const board = createBoard(vault);
    board.reviewNow("spend", "alice", "call");
    appendFileSync(join(vault, "board", "history.jsonl"), 'not json\n{"seq": "x"}\n');
    const reopened = createBoard(vault);
    reopened.reviewNow("spend", "bob", "call");
    expect(reopened.history().map((entry) => entry.actor)).toEqual(["alice", "bob"]);
    expect(reopened.stats().totalReviews).toBe(2);
  });
});
