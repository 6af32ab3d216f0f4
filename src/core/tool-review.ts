import { auditText } from "./audit/audit-event.ts";
import type { Board } from "./board/board.ts";
import { boardAudit } from "./board/board-context.ts";
import { BoardBlockedError, BoardEscalatedError } from "./board/board-errors.ts";
import { type EscalationHandler, enforceBoardDecision } from "./board/escalation.ts";
import type { TrustConfig } from "./config.ts";
import { evaluatePolicies } from "./policy/evaluate-policies.ts";
import type { PolicyContext, PolicyRule } from "./policy/policy-rule.ts";

/** A tool call to review. */
export interface ToolCallSubject {
  toolName: string;
  input: unknown;
  actor?: string | undefined;
  scope?: readonly string[] | undefined;
  metadata?: Readonly<Record<string, unknown>> | undefined;
  now: Date;
}

export interface ToolDecision {
  approved: boolean;
  /** Why it was refused, for the model (an execution-denied tool result) and the audit log. */
  reason?: string;
  warnings: string[];
  /** Fields for the tool_call audit event (never the arguments). */
  audit: Record<string, unknown>;
}

/**
 * A tool call the model asked for: the policy rules that read `tool_name` or `tool_args` (rules
 * about model calls are not applied to tools, so their missing fields cannot fail closed here)
 * and the board decide whether it may run. Never throws for a refusal: it answers it.
 */
export async function reviewTool(
  call: ToolCallSubject,
  rules: readonly PolicyRule[],
  parts: ToolReviewParts,
): Promise<ToolDecision> {
  const context: PolicyContext = {
    tool_name: call.toolName,
    tool_args: call.input,
    scope: call.scope ?? [],
    actor: call.actor,
    metadata: call.metadata ?? {},
    hour: call.now.getHours(),
    day_of_week: call.now.getDay(),
    time: call.now.toISOString(),
  };
  const result = evaluatePolicies(rules, context, call.now);
  const warnings = result.softViolations.map((match) => `policy ${match.rule}: ${match.reason}`);
  const denial = result.hardViolations[0];
  const policy = result.matched.map(({ rule, effect, enforcement, severity }) => ({
    rule,
    effect,
    enforcement,
    severity,
  }));
  const audit: Record<string, unknown> = {
    toolName: auditText(call.toolName),
    ...(policy.length > 0 ? { policy } : {}),
  };
  if (denial !== undefined) {
    if (parts.enforcement === "block") {
      return {
        approved: false,
        reason: `policy rule "${denial.rule}" denied the tool call: ${denial.reason}`,
        warnings,
        audit,
      };
    }
    noteNotEnforced(`policy_denied: ${denial.rule}`, `policy ${denial.rule}`, audit, warnings, parts);
  }
  if (parts.board !== undefined) {
    const review = parts.board.reviewNow(
      "tool_call",
      call.actor ?? parts.defaultActor,
      `tool call ${call.toolName}`,
      {
        ...(call.scope === undefined ? {} : { scope: call.scope }),
        context: { toolName: call.toolName, arguments: call.input },
      },
    );
    audit.board = boardAudit(review);
    try {
      const outcome = await enforceBoardDecision(review, parts.escalation);
      if (outcome !== "approved") warnings.push(`board ${review.decision}, allowed (${outcome})`);
    } catch (error) {
      if (!(error instanceof BoardBlockedError || error instanceof BoardEscalatedError)) throw error;
      if (parts.enforcement === "block") return { approved: false, reason: error.message, warnings, audit };
      noteNotEnforced(`board: ${review.decision}`, `board ${review.decision}`, audit, warnings, parts);
    }
  }
  return { approved: true, warnings, audit };
}

/**
 * A refusal that enforcement "warn" or "log" lets through, recorded as a model call's is: in the
 * audit event's `wouldDeny` with the enforcement mode, and under "warn" in the warnings and on the
 * console too.
 */
function noteNotEnforced(
  wouldDeny: string,
  warning: string,
  audit: Record<string, unknown>,
  warnings: string[],
  parts: ToolReviewParts,
): void {
  audit.wouldDeny = [...((audit.wouldDeny as string[] | undefined) ?? []), wouldDeny];
  audit.enforcement = parts.enforcement;
  if (parts.enforcement !== "warn") return;
  const text = `not enforced (enforcement: warn): ${warning}`;
  warnings.push(text);
  console.warn(`usertrust: tool call: ${text}`);
}

/** What a tool review needs from the preflight: its enforcement mode, board and escalation. */
export interface ToolReviewParts {
  enforcement: TrustConfig["enforcement"];
  board: Board | undefined;
  escalation: "block" | "allow" | EscalationHandler;
  /** Named when the call names no actor, so board history and audit agree. */
  defaultActor: string;
}
