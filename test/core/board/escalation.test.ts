import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { createBoard } from "../../../src/core/board/board.ts";
import { BoardBlockedError, BoardEscalatedError } from "../../../src/core/board/board-errors.ts";
import type { BoardReviewResult } from "../../../src/core/board/board-types.ts";
import { enforceBoardDecision } from "../../../src/core/board/escalation.ts";
import { UsertrustError } from "../../../src/core/errors.ts";

const folder = mkdtempSync(join(tmpdir(), "usertrust-escalation-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));
const board = createBoard(join(folder, ".usertrust"));

const approved = board.reviewNow("spend", "u", "model call", { context: {} });
// Both directors veto: a prompt injection (Alpha) and a tool outside the allowed list (Beta).
const blocked = board.reviewNow("spend", "u", "model call", {
  context: { injectionKinds: ["instruction_override"], toolNames: ["drop_db"], allowedTools: [] },
});
// Only Alpha vetoes.
const escalated = board.reviewNow("spend", "u", "model call", { context: { injectionKinds: ["role_play"] } });

describe("enforcing a board decision", () => {
  it("lets an approved call through whatever the escalation policy", async () => {
    expect(approved.decision).toBe("approved");
    const handler = vi.fn(() => "block" as const);
    await expect(enforceBoardDecision(approved, handler)).resolves.toBe("approved");
    expect(handler).not.toHaveBeenCalled();
  });

  it("refuses a blocked call with BoardBlockedError carrying the review, even when escalations are allowed", async () => {
    expect(blocked.decision).toBe("blocked");
    const refusal = await enforceBoardDecision(blocked, "allow").catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(BoardBlockedError);
    expect(refusal).toBeInstanceOf(UsertrustError);
    expect(refusal).toMatchObject({ code: "BOARD_BLOCKED", review: blocked });
    const { message } = refusal as Error;
    expect(message).toContain("policy_violation critical");
    expect(message).toContain("scope_creep high");
    expect(message).toContain("board.vetoThreshold");
  });

  it('refuses an escalated call with BoardEscalatedError when escalation is "block"', async () => {
    expect(escalated.decision).toBe("escalated");
    await expect(enforceBoardDecision(escalated, "block")).rejects.toMatchObject({
      code: "BOARD_ESCALATED",
      review: escalated,
    });
  });

  it('lets an escalated call through as "escalation_allowed" when escalation is "allow"', async () => {
    await expect(enforceBoardDecision(escalated, "allow")).resolves.toBe("escalation_allowed");
  });

  it("asks the onEscalate callback, with the review, and follows its answer", async () => {
    const approve = vi.fn(async (_review: BoardReviewResult) => "allow" as const);
    await expect(enforceBoardDecision(escalated, approve)).resolves.toBe("escalation_approved");
    expect(approve).toHaveBeenCalledWith(escalated);
    await expect(enforceBoardDecision(escalated, () => "block")).rejects.toThrow(/declined/);
  });

  it("blocks when the callback fails or answers something else", async () => {
    const failure = new Error("approver unreachable");
    const refusal = await enforceBoardDecision(escalated, async () => {
      throw failure;
    }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(BoardEscalatedError);
    expect((refusal as Error).cause).toBe(failure);
    await expect(
      enforceBoardDecision(escalated, (() => "yes") as unknown as () => "allow"),
    ).rejects.toBeInstanceOf(BoardEscalatedError);
  });
});
