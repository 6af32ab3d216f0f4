import type { BoardReviewResult, DirectorReview, VetoThreshold } from "./board-types.ts";
import { detectConcerns } from "./concern-detectors.ts";
import { explainDecision, resolveDecision, reviewAsDirector } from "./directors.ts";
import type { ReviewInput } from "./review-subject.ts";

/** A review whose `reviews` are known to be Alpha's then Beta's. */
export type DirectorsReview = BoardReviewResult & { reviews: [alpha: DirectorReview, beta: DirectorReview] };

/**
 * One board review without persistence: detect concerns once, let each director vote on its own
 * focus areas, resolve the votes with the decision matrix. Pure and synchronous; the timestamp is
 * the caller's, so the same input and timestamp always give the same result.
 */
export function reviewOperation(
  input: ReviewInput,
  vetoThreshold: VetoThreshold,
  timestamp: string,
): DirectorsReview {
  const concerns = detectConcerns(input);
  const alpha = reviewAsDirector("alpha", concerns, vetoThreshold);
  const beta = reviewAsDirector("beta", concerns, vetoThreshold);
  const decision = resolveDecision(alpha.vote, beta.vote);
  return {
    decision,
    reasoning: explainDecision(decision, alpha.vote, beta.vote),
    requiresHumanEscalation: decision === "escalated",
    reviews: [alpha, beta],
    concerns,
    vetoThreshold,
    timestamp,
  };
}
