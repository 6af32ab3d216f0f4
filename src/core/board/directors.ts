import type {
  BoardDecision,
  ConcernSeverity,
  ConcernType,
  DetectedConcern,
  DirectorName,
  DirectorReview,
  DirectorVote,
  VetoThreshold,
} from "./board-types.ts";
import { SEVERITY_RANK } from "./severity.ts";

/** Each director judges only its own concerns, so no single detector family is a single point of failure. */
export const DIRECTOR_FOCUS: Readonly<Record<DirectorName, readonly ConcernType[]>> = {
  alpha: ["hallucination", "safety", "policy_violation"],
  beta: ["bias", "scope_creep", "resource_abuse"],
};

/**
 * The spec: "At low, only severe issues trigger a veto. At critical, even marginal concerns can block
 * an operation." So the threshold names how strict the board is, and maps to the least severe concern
 * that still draws a veto:
 *
 *   vetoThreshold "low"      → vetoes critical concerns only       (abstains on high)
 *   vetoThreshold "medium"   → vetoes high and critical            (abstains on medium)
 *   vetoThreshold "high"     → vetoes medium and above             (abstains on low)
 *   vetoThreshold "critical" → vetoes low and above
 *
 * A concern exactly one severity below the veto level makes its director abstain, so the call is
 * escalated and a human (or `board.escalation`) decides. A concern further below is noted — it stays
 * in the review's concerns, the audit event and the history — and the director approves: otherwise
 * any concern at all would escalate, and under the default escalation "block" the threshold would
 * not change what is refused. An "info" concern never changes a vote (an observation, not an objection).
 */
export const LEAST_VETOING_SEVERITY: Readonly<Record<VetoThreshold, ConcernSeverity>> = {
  low: "critical",
  medium: "high",
  high: "medium",
  critical: "low",
};

const DIRECTOR_TITLE: Readonly<Record<DirectorName, string>> = {
  alpha: "Director Alpha",
  beta: "Director Beta",
};

/** One director's vote on the concerns in its focus areas (the caller passes all concerns). */
export function reviewAsDirector(
  director: DirectorName,
  allConcerns: readonly DetectedConcern[],
  vetoThreshold: VetoThreshold,
): DirectorReview {
  const focus = DIRECTOR_FOCUS[director];
  const concerns = allConcerns.filter((concern) => focus.includes(concern.type));
  const vetoRank = SEVERITY_RANK[LEAST_VETOING_SEVERITY[vetoThreshold]];
  const rank = (concern: DetectedConcern): number => SEVERITY_RANK[concern.severity];
  const vetoing = concerns.filter((concern) => rank(concern) >= vetoRank);
  const abstaining = concerns.filter(
    (concern) => rank(concern) === vetoRank - 1 && rank(concern) > SEVERITY_RANK.info,
  );
  const title = DIRECTOR_TITLE[director];
  const level = `${LEAST_VETOING_SEVERITY[vetoThreshold]} and above at vetoThreshold "${vetoThreshold}"`;

  let vote: DirectorVote;
  let reasoning: string;
  if (vetoing.length > 0) {
    vote = "veto";
    reasoning = `${title} vetoes: ${listConcerns(vetoing)} reach the veto level (${level}).`;
  } else if (abstaining.length > 0) {
    vote = "abstain";
    reasoning = `${title} abstains: ${listConcerns(abstaining)} are one step below the veto level (${level}).`;
  } else {
    vote = "approve";
    reasoning =
      concerns.length === 0
        ? `${title} approves: no ${focus.join(", ")} concerns.`
        : `${title} approves, noting ${listConcerns(concerns)}: well below the veto level (${level}).`;
  }
  return { director, vote, concerns, reasoning };
}

/**
 * The spec's decision matrix: unanimous approval approves, unanimous veto blocks, anything else
 * (a split, an abstention) escalates.
 *
 * The spec contradicts itself on approve + abstain: the BoardDecision table calls it "approved",
 * the Decision Matrix table and its prose ("Any disagreement or abstention results in escalation")
 * call it "escalated". We follow the decision matrix: it is the normative table of the board page,
 * it is backed by its own prose, and an abstention means a director saw a concern — letting that
 * through silently would hide it, while an escalation surfaces it and can still be allowed by
 * configuration.
 */
export function resolveDecision(alpha: DirectorVote, beta: DirectorVote): BoardDecision {
  if (alpha === "approve" && beta === "approve") return "approved";
  if (alpha === "veto" && beta === "veto") return "blocked";
  return "escalated";
}

export function explainDecision(decision: BoardDecision, alpha: DirectorVote, beta: DirectorVote): string {
  const votes = `Alpha ${alpha}, Beta ${beta}`;
  switch (decision) {
    case "approved":
      return `Approved: both directors approve (${votes}).`;
    case "blocked":
      return `Blocked: both directors veto (${votes}).`;
    case "escalated":
      return alpha === beta
        ? `Escalated: both directors abstain (${votes}); a human should decide.`
        : `Escalated: the directors disagree (${votes}); a human should decide.`;
  }
}

function listConcerns(concerns: readonly DetectedConcern[]): string {
  return concerns.map((concern) => `${concern.type} (${concern.severity}: ${concern.detail})`).join("; ");
}
