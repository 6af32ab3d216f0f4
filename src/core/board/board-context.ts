import type { InjectionKind } from "../guards/injection-detector.ts";
import type { PiiCounts } from "../guards/pii-detector.ts";
import type { LedgerBalance } from "../ledger/ledger.ts";
import type { PolicyCall } from "../policy/policy-context.ts";
import type { PolicyResult } from "../policy/policy-rule.ts";
import type { BoardReviewResult } from "./board-types.ts";

/** The directors scan at most this much of the prompt, so a huge prompt costs no more to review. */
const PROMPT_SCAN_CHARS_MAX = 16 * 1024;

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
  let prompt = "";
  for (const part of request.promptParts) {
    if (prompt.length >= PROMPT_SCAN_CHARS_MAX) break;
    prompt += `${part}\n`;
  }
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
    prompt: prompt.slice(0, PROMPT_SCAN_CHARS_MAX),
    policyWarnings: found.policy.softViolations,
    piiKinds: redacted ? [] : Object.keys(found.pii),
    injectionKinds: found.injection,
    requestsLastMinute,
  };
}

/** The board's decision as the audit event records it: concerns and votes, never the prompt. */
export function boardAudit(review: BoardReviewResult): Record<string, unknown> {
  return {
    decision: review.decision,
    concerns: review.concerns.map(({ type, severity }) => ({ type, severity })),
    votes: review.reviews.map(({ director, vote }) => ({ director, vote })),
  };
}
