import { auditText } from "./audit/audit-event.ts";
import { type Board, createBoard } from "./board/board.ts";
import { boardAudit, boardContext } from "./board/board-context.ts";
import { BoardBlockedError, BoardEscalatedError } from "./board/board-errors.ts";
import { type EscalationHandler, enforceBoardDecision } from "./board/escalation.ts";
import type { TrustConfig } from "./config.ts";
import { BudgetExceededError, PolicyDeniedError, type UsertrustError } from "./errors.ts";
import type { GovernedRequest } from "./governed-request.ts";
import { checkInjection, checkPii } from "./guard-checks.ts";
import type { InjectionKind } from "./guards/injection-detector.ts";
import type { PiiCounts } from "./guards/pii-detector.ts";
import type { Redactor } from "./guards/redactor.ts";
import type { LedgerBalance } from "./ledger/ledger.ts";
import { CurrentRules } from "./policy/current-rules.ts";
import { evaluatePolicies } from "./policy/evaluate-policies.ts";
import { addBudgetFields, policyContext } from "./policy/policy-context.ts";
import type { PolicyLoadError } from "./policy/policy-load-error.ts";
import type { PolicyContext, PolicyResult, PolicyRule } from "./policy/policy-rule.ts";
import { PolicySet } from "./policy/policy-set.ts";
import { resolvePolicySources } from "./policy/policy-sources.ts";
import { isBudgetOnly } from "./policy/rule-view.ts";
import { reviewTool, type ToolCallSubject, type ToolDecision } from "./tool-review.ts";
import type { VaultPaths } from "./vault.ts";

/** What the engine knows of a call when it is checked: its request, its hold and the budget. */
export interface PreflightSubject {
  request: GovernedRequest;
  holdUsertokens: number;
  maxOutputTokens: number;
  /**
   * Reads the budget from the ledger. Called once, before any check, when a loaded rule reads a
   * budget field or the board is on; otherwise never, which spares the call a ledger read.
   */
  readBalance: () => Promise<LedgerBalance>;
  /**
   * The ledger judges a new hold on the wallet's numbers as of its reserve (Ledger.admits): rules
   * that read only the budget may then be left for judgeBudgetRules there, instead of a read before
   * the checks.
   */
  budgetRulesAtReserve: boolean;
  now: Date;
  /** Fields every denial event of this call carries (its transfer id and prompt hash). */
  denialData: Readonly<Record<string, unknown>>;
  /** Decides an escalated board review of this call, over the preflight's own handler (a surface's option). */
  onEscalate?: EscalationHandler;
  /** The policy context `check` built; judgeBudgetRules adds the budget to it rather than build another. */
  context?: PolicyContext;
}

/** A call that may go ahead, and what its checks leave on the receipt and the audit event. */
export interface Clearance {
  /** For the receipt and the spend event: soft policy matches, PII found, would-be denials in warn mode. */
  warnings: string[];
  /** Extra spend-event fields: PII kinds and counts, injection kinds, policy matches, board outcome. */
  audit: Record<string, unknown>;
  /** Set in redact mode when the prompt has PII: the adapter sends redacted text. */
  redactor: Redactor | undefined;
  /** Put redacted values back into the response the caller receives. */
  restore: boolean;
  /**
   * Rules that read only the budget, left for `judgeBudgetRules` inside the reserve; set when the
   * ledger can and nothing else in the check needed the balance, so the call spares a ledger read.
   */
  budgetRules?: readonly PolicyRule[];
}

/** What budget rules decided inside a reserve: a refusal to audit and throw once it rolled back, or findings. */
export interface BudgetJudgement {
  warnings: string[];
  audit: Record<string, unknown>;
  refusal?: { kind: string; data: Record<string, unknown>; error: UsertrustError };
}

/** A refusal to audit: its event kind and data (kinds and counts, never prompt text). */
export type DenialRecorder = (
  kind: string,
  request: GovernedRequest | undefined,
  data: Record<string, unknown>,
) => void;

export interface PreflightOptions {
  config: TrustConfig;
  paths: VaultPaths;
  recordDenial: DenialRecorder;
  /** The actor named when a call names none (the engine's default), so board history and audit agree. */
  defaultActor: string;
  /** Decides escalated board reviews; without it `board.escalation` in the config does. */
  onEscalate?: EscalationHandler;
}

const MINUTE_MS = 60_000;

/**
 * The checks between estimate and reserve, in order: PII and secrets, prompt injection, the policy
 * gate, the board. Each refusal is typed and audited before anything leaves the process. The
 * global `enforcement` mode turns refusals into recorded warnings ("warn") or audit-only notes
 * ("log"), so new rules can be rolled out without stopping traffic.
 */
export class Preflight {
  readonly #config: TrustConfig;
  readonly #recordDenial: DenialRecorder;
  readonly #rules: CurrentRules;
  readonly #board: Board | undefined;
  readonly #escalation: "block" | "allow" | EscalationHandler;
  readonly #recent: number[] = [];
  readonly #defaultActor: string;

  constructor(options: PreflightOptions) {
    const { config, paths } = options;
    this.#config = config;
    this.#recordDenial = options.recordDenial;
    this.#defaultActor = options.defaultActor;
    const policies = new PolicySet(
      resolvePolicySources(config, paths),
      (error) => this.#reportReload(error),
      {
        recheckMs: 0,
      },
    );
    this.#rules = new CurrentRules(policies);
    this.#board = config.board.enabled
      ? createBoard(paths.root, {
          maxHistory: config.board.maxHistory,
          vetoThreshold: config.board.vetoThreshold,
        })
      : undefined;
    this.#escalation = options.onEscalate ?? config.board.escalation;
  }

  async check(subject: PreflightSubject): Promise<Clearance> {
    const { request } = subject;
    const rules = this.#rules.read();
    // Rules that read only the budget (the default policy's) ask what the reserve itself decides:
    // when nothing else here reads the balance, they are judged on the reserve's own numbers
    // (judgeBudgetRules, called by Ledger.reserve), with the holds placed before this one.
    const budgetLater =
      subject.budgetRulesAtReserve &&
      this.#board === undefined &&
      rules.budgetRules.length > 0 &&
      !rules.otherCallRulesReadBudget;
    // Read before any check, as the engine always did, so a ledger failure surfaces first.
    const balance =
      !budgetLater && (rules.callRulesReadBudget || this.#board !== undefined)
        ? await subject.readBalance()
        : undefined;
    const clearance: Clearance = { warnings: [], audit: {}, redactor: undefined, restore: false };
    const wouldDeny: string[] = [];
    const refuse = this.#refuser(subject, wouldDeny);

    const pii = checkPii(this.#config, request, clearance, refuse);
    const injection = checkInjection(this.#config, request, clearance, refuse);
    const callRules = budgetLater ? rules.otherCallRules : rules.callRules;
    const context = policyContext(subject, balance, this.#config);
    subject.context = context;
    const policy = this.#checkPolicies(subject, callRules, context, balance, clearance, refuse);
    if (this.#board !== undefined)
      await this.#review(this.#board, subject, balance, { pii, injection, policy }, clearance, refuse);

    this.#noteWouldDeny(clearance, wouldDeny);
    if (request.scope !== undefined) clearance.audit.scope = request.scope.map(auditText);
    if (budgetLater) clearance.budgetRules = rules.budgetRules;
    return clearance;
  }

  /**
   * The budget-only rules `check` left for the reserve, judged inside its atomic step on `before`:
   * the wallet's numbers without this call's hold. Records nothing (the step may still roll back):
   * a refusal is returned for the caller to audit and throw; otherwise the warnings and audit fields
   * to add to the call's.
   */
  judgeBudgetRules(
    subject: PreflightSubject,
    rules: readonly PolicyRule[],
    before: LedgerBalance,
  ): BudgetJudgement {
    const clearance: Clearance = { warnings: [], audit: {}, redactor: undefined, restore: false };
    const wouldDeny: string[] = [];
    let refusal: BudgetJudgement["refusal"];
    const refuse: Refuse = (kind, data, error) => {
      if (this.#config.enforcement === "block") {
        refusal = { kind, data: { ...subject.denialData, ...data }, error };
        throw error;
      }
      wouldDeny.push(`${kind}: ${error.message}`);
    };
    // The whole call context (scope, model, metadata): rules filter on it before their conditions.
    const context =
      subject.context === undefined
        ? policyContext(subject, before, this.#config)
        : addBudgetFields(subject.context, before, subject.holdUsertokens);
    try {
      this.#checkPolicies(subject, rules, context, before, clearance, refuse);
    } catch (error) {
      if (refusal === undefined || error !== refusal.error) throw error;
    }
    this.#noteWouldDeny(clearance, wouldDeny);
    return refusal === undefined
      ? { warnings: clearance.warnings, audit: clearance.audit }
      : { warnings: clearance.warnings, audit: clearance.audit, refusal };
  }

  /** Audits a refusal judgeBudgetRules returned (after the reserve it refused rolled back). */
  recordRefusal(request: GovernedRequest, refusal: NonNullable<BudgetJudgement["refusal"]>): void {
    this.#recordDenial(refusal.kind, request, refusal.data);
  }

  /** Refuses (audited, thrown) in block mode; otherwise notes what would have been refused. */
  #refuser(subject: PreflightSubject, wouldDeny: string[]): Refuse {
    return (kind, data, error) => {
      if (this.#config.enforcement === "block") {
        this.#recordDenial(kind, subject.request, { ...subject.denialData, ...data });
        throw error;
      }
      wouldDeny.push(`${kind}: ${error.message}`);
    };
  }

  #noteWouldDeny(clearance: Clearance, wouldDeny: string[]): void {
    if (wouldDeny.length === 0) return;
    clearance.audit.wouldDeny = wouldDeny;
    clearance.audit.enforcement = this.#config.enforcement;
    if (this.#config.enforcement === "warn") {
      const warnings = wouldDeny.map((reason) => `not enforced (enforcement: warn): ${reason}`);
      clearance.warnings.push(...warnings);
      // The interceptor spec's warn mode prints what it lets through (log mode only records it).
      for (const warning of warnings) console.warn(`usertrust: ${warning}`);
    }
  }

  /**
   * A tool call the model asked for: the policy rules that read `tool_name` or `tool_args` and the
   * board decide whether it may run (see reviewTool). Never throws for a refusal: it answers it.
   */
  async checkTool(call: ToolCallSubject, onEscalate?: EscalationHandler): Promise<ToolDecision> {
    const rules = this.#rules.read();
    return reviewTool(call, rules.toolRules, {
      enforcement: this.#config.enforcement,
      board: this.#board,
      escalation: onEscalate ?? this.#escalation,
      defaultActor: this.#defaultActor,
    });
  }

  /** Releases the board (its session is written when the vault's last board closes). */
  close(): void {
    this.#board?.close();
  }

  /** `rules`: the call rules (rules about tool calls are applied to tool calls only). */
  #checkPolicies(
    subject: PreflightSubject,
    rules: readonly PolicyRule[],
    context: PolicyContext,
    balance: LedgerBalance | undefined,
    clearance: Clearance,
    refuse: Refuse,
  ): PolicyResult {
    const result = evaluatePolicies(rules, context, subject.now);
    if (result.matched.length > 0) {
      clearance.audit.policy = result.matched.map(({ rule, effect, enforcement, severity }) => ({
        rule,
        effect,
        enforcement,
        severity,
      }));
    }
    for (const match of result.softViolations)
      clearance.warnings.push(`policy ${match.rule}: ${match.reason}`);
    const denial = result.hardViolations[0];
    if (result.decision === "deny" && denial !== undefined) {
      const data = { rule: denial.rule, severity: denial.severity, reason: denial.reason };
      if (isBudgetOnly(rules, result.hardViolations)) {
        // A rule that looks only at the budget is a budget refusal, and callers catch it as one.
        // Such a rule reads a budget field, so the balance was read for this call.
        const needed = subject.holdUsertokens;
        const remaining = balance?.remainingUsertokens ?? 0;
        refuse(
          "budget_exceeded",
          { ...data, neededUsertokens: needed, remainingUsertokens: remaining },
          new BudgetExceededError(needed, remaining),
        );
      } else {
        refuse("policy_denied", data, new PolicyDeniedError(denial.rule, denial.reason, denial.severity));
      }
    }
    return result;
  }

  async #review(
    board: Board,
    subject: PreflightSubject,
    balance: LedgerBalance | undefined,
    found: { pii: PiiCounts; injection: InjectionKind[]; policy: PolicyResult },
    clearance: Clearance,
    refuse: Refuse,
  ): Promise<void> {
    const { request } = subject;
    const review = board.reviewNow(
      "spend",
      request.actor ?? this.#defaultActor,
      `${request.provider} model call to ${request.model}`,
      {
        ...(request.scope === undefined ? {} : { scope: request.scope }),
        context: boardContext(
          subject,
          balance,
          found,
          clearance.redactor !== undefined,
          this.#requestsLastMinute(subject.now),
        ),
      },
    );
    clearance.audit.board = {
      decision: review.decision,
      concerns: review.concerns.map(({ type, severity }) => ({ type, severity })),
    };
    try {
      const outcome = await enforceBoardDecision(review, subject.onEscalate ?? this.#escalation);
      if (outcome !== "approved")
        clearance.warnings.push(`board ${review.decision}, allowed (${outcome}): ${review.reasoning}`);
    } catch (error) {
      if (error instanceof BoardBlockedError || error instanceof BoardEscalatedError) {
        refuse(
          error instanceof BoardBlockedError ? "board_blocked" : "board_escalated",
          boardAudit(review),
          error,
        );
        return;
      }
      throw error;
    }
  }

  #requestsLastMinute(now: Date): number {
    const nowMs = now.getTime();
    this.#recent.push(nowMs);
    while ((this.#recent[0] ?? nowMs) <= nowMs - MINUTE_MS) this.#recent.shift();
    return this.#recent.length;
  }

  #reportReload(error: PolicyLoadError): void {
    process.stderr.write(
      `usertrust: a policy file was edited into an invalid state or removed; the last valid rules stay in force.\n${error.message}\n`,
    );
    this.#recordDenial("policy_reload_failed", undefined, {
      problems: error.problems.map(({ file, line, column, message }) => ({ file, line, column, message })),
    });
  }
}

export type Refuse = (kind: string, data: Record<string, unknown>, error: UsertrustError) => void;
