import type { DetectedConcern } from "./board-types.ts";
import type { Detector } from "./concern-signal.ts";
import { detectBias, detectHallucination, detectSafety } from "./content-detectors.ts";
import { detectPolicyViolation, detectResourceAbuse, detectScopeCreep } from "./operation-detectors.ts";
import { type ReviewInput, readSubject } from "./review-subject.ts";

/** Run in the spec's order of concern types, so results and history read the same every time. */
const DETECTORS: readonly Detector[] = [
  detectHallucination,
  detectBias,
  detectSafety,
  detectScopeCreep,
  detectResourceAbuse,
  detectPolicyViolation,
];

/**
 * The six deterministic concern detectors, run once per review. Each looks at one concern type and
 * reports at most one concern: the most severe it found, with every signal that reached that
 * severity in its detail. No I/O, no clock, no randomness: the same input gives the same concerns.
 */
export function detectConcerns(input: ReviewInput): DetectedConcern[] {
  const subject = readSubject(input);
  const concerns: DetectedConcern[] = [];
  for (const detect of DETECTORS) {
    const concern = detect(subject);
    if (concern !== undefined) concerns.push(concern);
  }
  return concerns;
}
