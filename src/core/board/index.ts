export { type Board, type BoardOptions, createBoard, type ReviewOptions } from "./board.ts";
export { BoardBlockedError, BoardEscalatedError } from "./board-errors.ts";
export { type DirectorsReview, reviewOperation } from "./board-review.ts";
export type {
  BoardDecision,
  BoardHistoryEntry,
  BoardReviewResult,
  BoardStats,
  ConcernSeverity,
  ConcernType,
  DetectedConcern,
  DirectorName,
  DirectorReview,
  DirectorVote,
  VetoThreshold,
} from "./board-types.ts";
export { DIRECTOR_FOCUS, LEAST_VETOING_SEVERITY } from "./directors.ts";
export {
  type BoardClearance,
  type EscalationHandler,
  type EscalationPolicy,
  enforceBoardDecision,
} from "./escalation.ts";
export type { ReviewInput } from "./review-subject.ts";
