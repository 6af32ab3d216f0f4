import { BoardBlockedError, BoardEscalatedError } from "./board-errors.ts";
import type { BoardReviewResult } from "./board-types.ts";

/** Decides an escalated review; it may ask a human, so it may take as long as that takes. */
export type EscalationHandler = (review: BoardReviewResult) => "allow" | "block" | Promise<"allow" | "block">;

/** What happens to an escalated call: refuse it, let it through (recorded), or ask a handler. */
export type EscalationPolicy = "block" | "allow" | EscalationHandler;

/** Why a reviewed call may go ahead, for the receipt and the audit event. */
export type BoardClearance = "approved" | "escalation_allowed" | "escalation_approved";

/**
 * Turns a review into go or no-go. Blocked → BoardBlockedError. Escalated → per the policy:
 * "block" → BoardEscalatedError, "allow" → "escalation_allowed", a handler → its answer. A handler
 * that throws or answers anything but "allow" blocks: when in doubt the call does not go out.
 */
export async function enforceBoardDecision(
  review: BoardReviewResult,
  escalation: EscalationPolicy,
): Promise<BoardClearance> {
  if (review.decision === "approved") return "approved";
  if (review.decision === "blocked") throw new BoardBlockedError(review);
  if (escalation === "allow") return "escalation_allowed";
  if (escalation === "block") throw new BoardEscalatedError(review, 'escalation is set to "block"');
  let answer: unknown;
  try {
    answer = await escalation(review);
  } catch (error) {
    throw new BoardEscalatedError(review, "the onEscalate callback failed", { cause: error });
  }
  if (answer === "allow") return "escalation_approved";
  throw new BoardEscalatedError(
    review,
    answer === "block"
      ? "the onEscalate callback declined it"
      : `the onEscalate callback answered ${String(answer)}`,
  );
}
