import type { InjectionKind } from "../guards/injection-detector.ts";
import type { PiiCounts } from "../guards/pii-detector.ts";
import type { LedgerBalance } from "../ledger/ledger.ts";
import type { PolicyCall } from "../policy/policy-context.ts";
import type { PolicyResult } from "../policy/policy-rule.ts";
import type { BoardReviewResult } from "./board-types.ts";
import { SCANNED_CHARS_MAX } from "./review-subject.ts";

/**
 * What the board's directors read about a call: its size and cost, the budget, and what the guards
 * and soft policies found. `redacted`: PII was replaced before sending, so it does not leave the process.
 */
export function boardContext(
  call: Omit<PolicyCall, "now">,
  balance: LedgerBalance | undefined,
  found: { pii: PiiCounts; injection: InjectionKind[]; policy: PolicyResult },
  redacted: boolean,
  requestsLastMinute: number,
): Record<string, unknown> {
  const { request } = call;
  return {
    model: request.model,
    provider: request.provider,
    estimatedCost: call.holdUsertokens,
    budget: balance?.budgetUsertokens,
    budgetRemaining: balance?.remainingUsertokens,
    maxOutputTokens: call.maxOutputTokens,
    promptLength: request.promptParts.reduce((sum, part) => sum + part.length, 0),
    messageCount: request.messageCount ?? 0,
    toolNames: request.toolNames ?? [],
    prompt: promptWindow(request.promptParts, SCANNED_CHARS_MAX),
    policyWarnings: found.policy.softViolations,
    piiKinds: redacted ? [] : Object.keys(found.pii),
    injectionKinds: found.injection,
    requestsLastMinute,
  };
}

/**
 * The text the directors read of a prompt (its parts one per line): all of it up to `charsMax`
 * characters; past that, its first and its last half of `charsMax`. A conversation is re-sent whole
 * on every call, so what is new in it (the latest turn) is at the end, and the system prompt at the
 * start. Copies no more than `charsMax` characters, however long the prompt.
 */
export function promptWindow(parts: readonly string[], charsMax: number): string {
  let total = Math.max(0, parts.length - 1);
  for (const part of parts) total += part.length;
  if (total <= charsMax) return parts.join("\n");
  const headMax = Math.floor(charsMax / 2);
  const tailMax = charsMax - headMax - 1;
  const head: string[] = [];
  for (let chars = 0, index = 0; chars < headMax && index < parts.length; index++) {
    const piece = (parts[index] as string).slice(0, headMax - chars);
    head.push(piece);
    chars += piece.length + 1;
  }
  const tail: string[] = [];
  for (let chars = 0, index = parts.length - 1; chars < tailMax && index >= 0; index--) {
    const part = parts[index] as string;
    const piece = part.slice(Math.max(0, part.length - (tailMax - chars)));
    tail.push(piece);
    chars += piece.length + 1;
  }
  return `${head.join("\n").slice(0, headMax)}\n${tail.reverse().join("\n").slice(-tailMax)}`;
}

/** The board's decision as the audit event records it: concerns and votes, never the prompt. */
export function boardAudit(review: BoardReviewResult): Record<string, unknown> {
  return {
    decision: review.decision,
    concerns: review.concerns.map(({ type, severity }) => ({ type, severity })),
    votes: review.reviews.map(({ director, vote }) => ({ director, vote })),
  };
}
