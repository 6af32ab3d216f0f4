import type { PolicySeverity } from "../policy/policy-rule.ts";

/** The outcome of a Board of Directors review. */
export type BoardDecision = "approved" | "blocked" | "escalated";

/** The six concern categories the board's heuristic detectors look for. */
export type ConcernType =
  | "hallucination"
  | "bias"
  | "safety"
  | "scope_creep"
  | "resource_abuse"
  | "policy_violation";

export const CONCERN_TYPES: readonly ConcernType[] = [
  "hallucination",
  "bias",
  "safety",
  "scope_creep",
  "resource_abuse",
  "policy_violation",
];

/** An individual director's vote on a review. */
export type DirectorVote = "approve" | "veto" | "abstain";

export type DirectorName = "alpha" | "beta";

/** A concern is graded on the same scale as a policy rule, so a rule's severity can flow into the board. */
export type ConcernSeverity = PolicySeverity;

/**
 * How strict the board is (the spec's `board.vetoThreshold`). It names a strictness, not a minimum
 * severity: "low" vetoes only critical concerns, "critical" vetoes even low ones (see directors.ts).
 */
export type VetoThreshold = "low" | "medium" | "high" | "critical";

export interface DetectedConcern {
  type: ConcernType;
  severity: ConcernSeverity;
  /** Says what was seen, never quotes the prompt (results end up in audit events and receipts). */
  detail: string;
}

export interface DirectorReview {
  director: DirectorName;
  vote: DirectorVote;
  /** Only the concerns in this director's focus areas. */
  concerns: DetectedConcern[];
  reasoning: string;
}

export interface BoardReviewResult {
  decision: BoardDecision;
  reasoning: string;
  requiresHumanEscalation: boolean;
  /** Alpha's review first, then Beta's. */
  reviews: DirectorReview[];
  concerns: DetectedConcern[];
  /** How strict the directors were: what a refusal's advice and an onEscalate handler can go by. */
  vetoThreshold: VetoThreshold;
  /** ISO 8601. */
  timestamp: string;
}

export interface BoardStats {
  totalReviews: number;
  approved: number;
  blocked: number;
  escalated: number;
  /** Concerns seen per concern type (every type is present, 0 when never seen). */
  concernCounts: Record<string, number>;
}

/** One line of `.usertrust/board/history.jsonl`. It never holds prompt text or concern details. */
export interface BoardHistoryEntry {
  /** Increases by one per review on this vault's board; orders the history. */
  seq: number;
  timestamp: string;
  kind: string;
  actor: string;
  decision: BoardDecision;
  votes: Record<DirectorName, DirectorVote>;
  concerns: Array<{ type: ConcernType; severity: ConcernSeverity }>;
}
