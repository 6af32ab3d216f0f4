import { describe, expect, it } from "vitest";
import type {
  BoardDecision,
  ConcernSeverity,
  DetectedConcern,
  DirectorVote,
  VetoThreshold,
} from "../../../src/core/board/board-types.ts";
import { resolveDecision, reviewAsDirector } from "../../../src/core/board/directors.ts";

const concern = (type: DetectedConcern["type"], severity: ConcernSeverity): DetectedConcern => ({
  type,
  severity,
  detail: `${type} seen`,
});

describe("decision matrix", () => {
  // The spec's Decision Matrix table, plus the two pairs it leaves out (veto + abstain), which its
  // prose settles: "Any disagreement or abstention results in escalation".
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
  ])("Alpha %s + Beta %s → %s", (alpha, beta, decision) => {
    expect(resolveDecision(alpha, beta)).toBe(decision);
  });
});

describe("directors", () => {
  it("each director judges only its own focus areas", () => {
    const concerns = [concern("safety", "critical"), concern("bias", "medium")];
    const alpha = reviewAsDirector("alpha", concerns, "medium");
    const beta = reviewAsDirector("beta", concerns, "medium");
    expect(alpha.concerns.map((c) => c.type)).toEqual(["safety"]);
    expect(alpha.vote).toBe("veto");
    expect(beta.concerns.map((c) => c.type)).toEqual(["bias"]);
    expect(beta.vote).toBe("abstain");
  });

  it("Alpha covers hallucination, safety and policy_violation; Beta covers bias, scope_creep and resource_abuse", () => {
    const all = (
      ["hallucination", "safety", "policy_violation", "bias", "scope_creep", "resource_abuse"] as const
    ).map((type) => concern(type, "critical"));
    expect(reviewAsDirector("alpha", all, "low").concerns.map((c) => c.type)).toEqual([
      "hallucination",
      "safety",
      "policy_violation",
    ]);
    expect(reviewAsDirector("beta", all, "low").concerns.map((c) => c.type)).toEqual([
      "bias",
      "scope_creep",
      "resource_abuse",
    ]);
  });

  it("approves when it has no concerns, and when it has only informational ones", () => {
    expect(reviewAsDirector("alpha", [], "critical").vote).toBe("approve");
    expect(reviewAsDirector("alpha", [concern("safety", "info")], "critical").vote).toBe("approve");
  });

  // The spec: "At low, only severe issues trigger a veto. At critical, even marginal concerns can
  // block an operation." A concern one step below the veto level escalates (abstain); one further
  // below is noted and approved. Rows: concern severity; columns: vetoThreshold low … critical.
  const expectedVotes: Record<ConcernSeverity, Record<VetoThreshold, DirectorVote>> = {
    critical: { low: "veto", medium: "veto", high: "veto", critical: "veto" },
    high: { low: "abstain", medium: "veto", high: "veto", critical: "veto" },
    medium: { low: "approve", medium: "abstain", high: "veto", critical: "veto" },
    low: { low: "approve", medium: "approve", high: "abstain", critical: "veto" },
    info: { low: "approve", medium: "approve", high: "approve", critical: "approve" },
  };
  for (const [severity, byThreshold] of Object.entries(expectedVotes)) {
    for (const [threshold, vote] of Object.entries(byThreshold)) {
      it(`a ${severity} concern at vetoThreshold "${threshold}" → ${vote}`, () => {
        const review = reviewAsDirector(
          "beta",
          [concern("resource_abuse", severity as ConcernSeverity)],
          threshold as VetoThreshold,
        );
        expect(review.vote).toBe(vote);
      });
    }
  }

  it("keeps the concerns it approves despite, and names them in its reasoning", () => {
    const review = reviewAsDirector("beta", [concern("resource_abuse", "low")], "medium");
    expect(review.vote).toBe("approve");
    expect(review.concerns).toEqual([concern("resource_abuse", "low")]);
    expect(review.reasoning).toBe(
      'Director Beta approves, noting resource_abuse (low: resource_abuse seen): well below the veto level (high and above at vetoThreshold "medium").',
    );
  });

  it("votes on its most severe concern when it has several", () => {
    const concerns = [concern("safety", "low"), concern("hallucination", "medium")];
    const review = reviewAsDirector("alpha", concerns, "medium");
    expect(review.vote).toBe("abstain");
    expect(review.reasoning).toContain("hallucination (medium");
    expect(review.reasoning).not.toContain("safety (low");
  });

  it("explains its vote with the concerns and the veto level", () => {
    const review = reviewAsDirector("alpha", [concern("safety", "high")], "medium");
    expect(review.reasoning).toContain("Director Alpha vetoes");
    expect(review.reasoning).toContain("safety (high");
    expect(review.reasoning).toContain('high and above at vetoThreshold "medium"');
  });
});
