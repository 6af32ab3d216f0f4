import { auditText } from "./audit/audit-event.ts";
import { scopedHolds } from "./budgets/scoped-budgets.ts";
import type { CallRecorder } from "./call-recorder.ts";
import type { TrustConfig } from "./config.ts";
import { BudgetExceededError } from "./errors.ts";
import type { HoldTerms } from "./hold.ts";
import type { Clock, Ledger, LedgerBalance } from "./ledger/ledger.ts";
import type { PolicyRule } from "./policy/policy-rule.ts";
import type { BudgetJudgement, Preflight, PreflightSubject } from "./preflight.ts";

/** Budget-only rules the preflight left for the reserve, with the call they judge. */
export interface BudgetRulesAtReserve {
  rules: readonly PolicyRule[];
  subject: PreflightSubject;
}

/**
 * The reserve stage: holds a checked call on the vault budget and, all or nothing, on every scoped
 * budget whose scope matches it. A refusal is audited before it is thrown.
 */
export class HoldReserver {
  readonly #ledger: Ledger;
  readonly #preflight: Preflight;
  readonly #recorder: CallRecorder;
  readonly #config: TrustConfig;
  readonly #now: Clock;

  constructor(parts: {
    ledger: Ledger;
    preflight: Preflight;
    recorder: CallRecorder;
    config: TrustConfig;
    clock: Clock;
  }) {
    this.#ledger = parts.ledger;
    this.#preflight = parts.preflight;
    this.#recorder = parts.recorder;
    this.#config = parts.config;
    this.#now = parts.clock;
  }

  /**
   * Rules that read only the budget, when the preflight left them here, are judged on the wallet's
   * numbers without this hold as of the reserve (Ledger.admits): calls made at once each see the
   * holds placed before them. Their findings are added to `terms`.
   */
  async reserve(terms: HoldTerms, budget: BudgetRulesAtReserve | undefined): Promise<void> {
    const scoped = scopedHolds(this.#config.budgets, terms.request.scope, this.#now());
    if (scoped.length > 0) terms.scoped = scoped;
    let judgement: BudgetJudgement | undefined;
    const admit =
      budget === undefined
        ? undefined
        : (before: LedgerBalance): void => {
            judgement = this.#preflight.judgeBudgetRules(budget.subject, budget.rules, before);
            if (judgement.refusal !== undefined) throw judgement.refusal.error;
          };
    try {
      await this.#ledger.reserve(
        terms.transferId,
        terms.holdUsertokens,
        this.#config.holdTimeoutSeconds,
        scoped.map((hold) => hold.account),
        admit,
      );
    } catch (error) {
      await this.#recordRefusal(terms, error, judgement);
      throw error;
    }
    if (judgement !== undefined) {
      terms.warnings = [...terms.warnings, ...judgement.warnings];
      terms.checks = mergeFindings(terms.checks ?? {}, judgement.audit);
    }
  }

  async #recordRefusal(
    terms: HoldTerms,
    error: unknown,
    judgement: BudgetJudgement | undefined,
  ): Promise<void> {
    const refusal = judgement?.refusal;
    if (refusal !== undefined && error === refusal.error) {
      this.#preflight.recordRefusal(terms.request, refusal);
    } else if (error instanceof BudgetExceededError) {
      // The call's only event: what its checks found goes in it, as it would in its spend or void
      // event (in warn and log mode, the would-be denials are recorded nowhere else).
      this.#recorder.recordDenial("budget_exceeded", terms.request, {
        ...mergeFindings(terms.checks ?? {}, judgement?.audit ?? {}),
        transferId: terms.transferId,
        promptHash: terms.promptHash,
        neededUsertokens: error.neededUsertokens,
        remainingUsertokens: error.remainingUsertokens,
        ...(error.account === undefined ? {} : { budget: auditText(error.account) }),
      });
    } else {
      return;
    }
    await this.#recorder.flush();
  }
}

/** Findings of a later check added to a call's: lists (policy matches, would-be denials) grow. */
function mergeFindings(
  checks: Record<string, unknown>,
  later: Record<string, unknown>,
): Record<string, unknown> {
  const merged = { ...checks };
  for (const [key, value] of Object.entries(later)) {
    const earlier = merged[key];
    merged[key] = Array.isArray(earlier) && Array.isArray(value) ? [...earlier, ...value] : value;
  }
  return merged;
}
