import { UsertrustError } from "../errors.ts";
import type { BoardReviewResult } from "./board-types.ts";

/** Both directors vetoed the call; nothing was sent. */
export class BoardBlockedError extends UsertrustError {
  readonly review: BoardReviewResult;

  constructor(review: BoardReviewResult) {
    super(
      "BOARD_BLOCKED",
      `The Board of Directors blocked this call: both directors vetoed it (${summarizeConcerns(review)}). ` +
        (review.vetoThreshold === "low"
          ? 'Change the request, or disable the board: at `board.vetoThreshold` "low", the least strict, ' +
            "only critical concerns are vetoed."
          : "Change the request, or make the board less strict with a lower `board.vetoThreshold` in " +
            `usertrust.config.json (it is "${review.vetoThreshold}"; "low" vetoes only critical concerns), ` +
            "or disable the board."),
    );
    this.review = review;
  }
}

/** The board escalated the call and escalation is configured to block (or the approver declined). */
export class BoardEscalatedError extends UsertrustError {
  readonly review: BoardReviewResult;

  constructor(review: BoardReviewResult, why: string, options?: { cause?: unknown }) {
    super(
      "BOARD_ESCALATED",
      `The Board of Directors escalated this call (${review.reasoning} Concerns: ${summarizeConcerns(review)}) ` +
        `and ${why}, so nothing was sent. Let an onEscalate callback decide, or set the board's escalation ` +
        'to "allow" to let escalated calls through and record them' +
        (review.vetoThreshold === "low"
          ? "."
          : `, or lower \`board.vetoThreshold\` (it is "${review.vetoThreshold}"), so that fewer concerns escalate.`),
      options,
    );
    this.review = review;
  }
}

export function summarizeConcerns(review: BoardReviewResult): string {
  if (review.concerns.length === 0) return "no concerns";
  return review.concerns
    .map((concern) => `${concern.type} ${concern.severity}: ${concern.detail}`)
    .join("; ");
}
