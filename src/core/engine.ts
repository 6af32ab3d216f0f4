import type { AuditChain } from "./audit/audit-chain.ts";
import type { AuditEvent } from "./audit/audit-event.ts";
import { auditText, sha256Hex } from "./audit/audit-event.ts";
import type { EscalationHandler } from "./board/escalation.ts";
import { budgetAlerts } from "./budgets/budget-alerts.ts";
import { type BudgetReport, budgetReport } from "./budgets/budget-report.ts";
import { scopedHolds } from "./budgets/scoped-budgets.ts";
import { CallRecorder } from "./call-recorder.ts";
import {
  type Admission,
  type CallOutcome,
  type CircuitBreaker,
  type CircuitTransition,
  vaultBreaker,
} from "./circuit-breaker.ts";
import type { TrustConfig } from "./config.ts";
import {
  BudgetExceededError,
  CircuitOpenError,
  ClientDestroyedError,
  InvalidScopeError,
  LedgerUnavailableError,
  UnknownModelError,
} from "./errors.ts";
import type { GovernedRequest } from "./governed-request.ts";
import { Hold, type HoldCloser, type HoldTerms, newTransferId } from "./hold.ts";
import { holdTerms } from "./hold-sizing.ts";
import {
  type Clock,
  type Ledger,
  type LedgerBalance,
  makeBalance,
  type PostResult,
  systemClock,
} from "./ledger/ledger.ts";
import type { PolicyRule } from "./policy/policy-rule.ts";
import {
  type BudgetJudgement,
  Preflight,
  type PreflightSubject,
  type ToolCallSubject,
  type ToolDecision,
} from "./preflight.ts";
import { costUsertokens, PriceBook } from "./price-book.ts";
import { postWarnings, type TrustReceipt } from "./receipt.ts";
import type { Usage, UsageSource } from "./usage.ts";
import { ZERO_USAGE } from "./usage.ts";
import type { VaultPaths } from "./vault.ts";
import type { VaultDatabase } from "./vault-database.ts";

/**
 * The one governance pipeline every surface uses. `authorize` runs the stages in DESIGN.md order
 * and returns a Hold; the caller forwards the call and ends the hold with exactly one settle or void.
 */
export class Engine implements HoldCloser {
  readonly config: TrustConfig;
  readonly paths: VaultPaths;
  readonly ledger: Ledger;
  readonly #database: VaultDatabase;
  readonly #prices: PriceBook;
  readonly #recorder: CallRecorder;
  readonly #inFlight = new Set<Hold>();
  readonly #authorizing = new Set<Promise<unknown>>();
  readonly #unposted: UnpostedSpend[] = [];
  #retrying: Promise<void> | null = null;
  readonly #breaker: CircuitBreaker;
  /** Circuit state changes this engine's calls cause are audited on its chain. */
  readonly #onCircuit = (transition: CircuitTransition): void => {
    this.#recorder.append("circuit_state", undefined, { ...transition });
  };
  readonly #preflight: Preflight;
  readonly #now: Clock;
  #closing: Promise<void> | null = null;

  constructor(
    config: TrustConfig,
    paths: VaultPaths,
    ledger: Ledger,
    audit: AuditChain,
    database: VaultDatabase,
    actor: string,
    onEscalate?: EscalationHandler,
    clock: Clock = systemClock,
  ) {
    this.#now = clock;
    this.#database = database;
    this.config = config;
    this.paths = paths;
    this.ledger = ledger;
    this.#prices = new PriceBook(config);
    this.#recorder = new CallRecorder(audit, actor);
    this.#breaker = vaultBreaker(paths.root, {
      failureThreshold: config.circuitBreaker.failureThreshold,
      resetTimeoutMs: config.circuitBreaker.resetTimeout,
    });
    this.#preflight = new Preflight({
      config,
      paths,
      defaultActor: actor,
      recordDenial: (kind, request, data) =>
        request === undefined
          ? this.#recorder.append(kind, undefined, data)
          : this.#recorder.recordDenial(kind, request, data),
      ...(onEscalate === undefined ? {} : { onEscalate }),
    });
  }

  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Estimate → reserve, refusing with a typed error (and an audit event) before anything leaves
   * the process. The breaker, policy gate, PII guard and board run between estimate and reserve.
   */
  async authorize(request: GovernedRequest): Promise<Hold> {
    this.#assertUsable();
    // close() waits for authorizations in progress, so a hold placed while it runs is voided, not orphaned.
    const authorizing = this.#authorize(request);
    this.#authorizing.add(authorizing);
    try {
      return await authorizing;
    } finally {
      this.#authorizing.delete(authorizing);
    }
  }

  async #authorize(request: GovernedRequest): Promise<Hold> {
    assertPlainScopes(request.scope);
    if (this.#unposted.length > 0) await this.#retryUnposted();
    // The retried spend's audit event may have failed to write: then this call is refused too.
    this.#assertUsable();
    const admission = this.#admit(request);
    let terms: HoldTerms;
    try {
      const checked = await this.#check({ ...this.#estimate(request), admission });
      terms = checked.terms;
      if (this.#closing !== null) throw new ClientDestroyedError();
      await this.#reserve(
        terms,
        checked.budgetRules && { rules: checked.budgetRules, subject: checked.subject },
      );
    } catch (error) {
      this.#breaker.record(admission, "neutral", this.#onCircuit);
      await this.#recorder.flush();
      throw error;
    }
    const hold = new Hold(terms, this);
    this.#inFlight.add(hold);
    if (this.#closing !== null) {
      await hold.void("the client was destroyed while the call was being authorized", "hold_voided");
      throw new ClientDestroyedError();
    }
    return hold;
  }

  /**
   * Reviews a tool call the model asked for (policy rules on `tool_name` / `tool_args`, and the
   * board) and writes a `tool_call` audit event with the decision (never the arguments). Tool
   * calls are not model calls: no hold, no cost.
   */
  async reviewToolCall(call: Omit<ToolCallSubject, "now">): Promise<ToolDecision> {
    this.#assertUsable();
    assertPlainScopes(call.scope);
    const result = await this.#preflight.checkTool({ ...call, now: new Date() });
    this.#recorder.append("tool_call", call.actor, {
      ...result.audit,
      ...(call.scope === undefined ? {} : { scope: call.scope.map(auditText) }),
      approved: result.approved,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
      ...(result.warnings.length > 0 ? { warnings: result.warnings } : {}),
    });
    await this.#recorder.flush();
    return result;
  }

  /**
   * Records an observed event that is not a money movement (an agent's decision) on the audit
   * chain. Callers pass kinds, ids and names — never prompt text.
   */
  async recordEvent(
    kind: "llm_invoke" | "decision",
    actor: string | undefined,
    data: Record<string, unknown>,
  ): Promise<void> {
    this.#assertUsable();
    this.#recorder.append(kind, actor, data);
    await this.#recorder.flush();
  }

  async balance(): Promise<LedgerBalance> {
    this.#assertOpen();
    return this.ledger.balance();
  }

  /** The vault budget and every scoped budget at its current period: limit, spent, held, remaining. */
  async budgets(): Promise<BudgetReport> {
    this.#assertOpen();
    return budgetReport(this.ledger, this.config, this.#now());
  }

  /** Voids every hold still in flight, then closes the ledger and the audit chain. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async settle(
    hold: Hold,
    usage: Usage,
    source: UsageSource,
    outcome: CallOutcome = "success",
  ): Promise<TrustReceipt> {
    const { terms } = hold;
    const cost = costUsertokens(terms.rates, usage);
    const warnings = [...terms.warnings];
    try {
      const { posted, event } = await this.#post({ terms, cost, usage, source, warnings });
      await this.#recorder.flush();
      return this.#recorder.receipt(terms, event, {
        cost,
        balance: posted.balance,
        settled: true,
        usage,
        source,
        warnings,
      });
    } catch (error) {
      // The provider has answered and charged; the caller keeps the response. The cost is kept
      // here and posted before the next call, which is refused until that succeeds.
      this.#unposted.push({ terms, cost, usage, source, warnings });
      warnings.push(
        `the cost could not be posted to the ledger (${(error as Error).message}); it will be posted before ` +
          "the next call, and calls are refused until it is",
      );
      const event = this.#recorder.record("settle_failed", terms, {
        costUsertokens: cost,
        usage,
        reason: (error as Error).message,
      });
      await this.#recorder.flush();
      const balance = makeBalance(0, 0, 0);
      return this.#recorder.receipt(terms, event, { cost, balance, settled: false, usage, source, warnings });
    } finally {
      this.#inFlight.delete(hold);
      // How the provider did is what the circuit cares about, whatever the ledger did.
      if (terms.admission !== undefined) this.#breaker.record(terms.admission, outcome, this.#onCircuit);
    }
  }

  /**
   * Posts the cost and writes the spend event inside the ledger's post step, so on the SQLite
   * ledger the spend and its audit record commit in one transaction.
   */
  async #post(spend: UnpostedSpend): Promise<{ posted: PostResult; event: AuditEvent | null }> {
    const { terms, cost, usage, source, warnings } = spend;
    let event: AuditEvent | null = null;
    const posted = await this.ledger.post(terms.transferId, cost, (result) => {
      const alerts = budgetAlerts(result, this.config.warnAt, terms.scoped ?? []);
      warnings.push(...postWarnings(cost, result), ...alerts.warnings);
      event = this.#recorder.record("spend", terms, {
        costUsertokens: cost,
        postedUsertokens: result.postedUsertokens,
        shortfallUsertokens: result.shortfallUsertokens,
        holdUsertokens: terms.holdUsertokens,
        usage,
        usageSource: source,
        pricedAs: terms.rates.pricedAs,
        priceSource: terms.rates.source,
        warnings,
      });
      for (const crossing of alerts.crossings) this.#recorder.record("budget_threshold", terms, crossing);
    });
    return { posted, event: this.#recorder.written(event) };
  }

  /**
   * Costs whose post failed are posted before anything else may spend; until then calls are
   * refused. Calls that start together share one retry, so each cost is posted (and audited) once.
   */
  #retryUnposted(): Promise<void> {
    this.#retrying ??= this.#postUnposted().finally(() => {
      this.#retrying = null;
    });
    return this.#retrying;
  }

  async #postUnposted(): Promise<void> {
    while (this.#unposted.length > 0) {
      const spend = this.#unposted[0] as UnpostedSpend;
      try {
        await this.#post(spend);
      } catch (error) {
        throw new LedgerUnavailableError(
          `Refusing new calls: the cost of an earlier call (${spend.cost} UT, ${spend.terms.transferId}) could not ` +
            `be posted to the ledger (${(error as Error).message}). The next call retries it.`,
          { cause: error },
        );
      }
      this.#unposted.shift();
    }
  }

  async void(
    hold: Hold,
    reason: string,
    kind: "call_failed" | "hold_voided",
    outcome: CallOutcome,
  ): Promise<TrustReceipt> {
    const { terms } = hold;
    try {
      let event: AuditEvent | null = null;
      const balance = await this.ledger.void(terms.transferId, () => {
        event = this.#recorder.record(kind, terms, { holdUsertokens: terms.holdUsertokens, reason });
      });
      event = this.#recorder.written(event);
      await this.#recorder.flush();
      return this.#recorder.receipt(terms, event, {
        cost: 0,
        balance,
        settled: false,
        usage: ZERO_USAGE,
        source: "provider",
        warnings: [...terms.warnings],
      });
    } finally {
      this.#inFlight.delete(hold);
      if (terms.admission !== undefined) this.#breaker.record(terms.admission, outcome, this.#onCircuit);
    }
  }

  #estimate(request: GovernedRequest): HoldTerms {
    const transferId = newTransferId();
    const promptHash = sha256Hex(JSON.stringify(request.promptParts));
    let rates: HoldTerms["rates"];
    try {
      rates = this.#prices.ratesFor(request.provider, request.model);
    } catch (error) {
      if (error instanceof UnknownModelError) {
        this.#recorder.recordDenial("unknown_model", request, {
          transferId,
          promptHash,
          reason: error.message,
        });
      }
      throw error;
    }
    return holdTerms(request, rates, this.config.defaultMaxOutputTokens, { transferId, promptHash });
  }

  /**
   * Holds on the vault budget and, all or nothing, on every scoped budget whose scope matches the
   * call. Rules that read only the budget, when the preflight left them here, are judged on the
   * wallet's numbers without this hold as of the reserve (Ledger.admits): calls made at once each
   * see the holds placed before them.
   */
  async #reserve(
    terms: HoldTerms,
    budget: { rules: readonly PolicyRule[]; subject: PreflightSubject } | undefined,
  ): Promise<void> {
    const scoped = scopedHolds(this.config.budgets, terms.request.scope, this.#now());
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
      await this.ledger.reserve(
        terms.transferId,
        terms.holdUsertokens,
        this.config.holdTimeoutSeconds,
        scoped.map((hold) => hold.account),
        admit,
      );
    } catch (error) {
      const refusal = judgement?.refusal;
      if (refusal !== undefined && error === refusal.error) {
        this.#preflight.recordRefusal(terms.request, refusal);
        await this.#recorder.flush();
      } else if (error instanceof BudgetExceededError) {
        this.#recorder.recordDenial("budget_exceeded", terms.request, {
          transferId: terms.transferId,
          promptHash: terms.promptHash,
          neededUsertokens: error.neededUsertokens,
          remainingUsertokens: error.remainingUsertokens,
          ...(error.account === undefined ? {} : { budget: auditText(error.account) }),
        });
        await this.#recorder.flush();
      }
      throw error;
    }
    if (judgement !== undefined) {
      terms.warnings = [...terms.warnings, ...judgement.warnings];
      terms.checks = mergeFindings(terms.checks ?? {}, judgement.audit);
    }
  }

  /**
   * PII, injection, policy and board checks; a refusal throws (audited), a clearance adds warnings
   * and findings. Rules that read only the budget may be left for the reserve (#reserve).
   */
  async #check(terms: HoldTerms): Promise<{
    terms: HoldTerms;
    budgetRules: readonly PolicyRule[] | undefined;
    subject: PreflightSubject;
  }> {
    const subject = this.#subject(terms);
    const clearance = await this.#preflight.check(subject);
    const checked: HoldTerms = {
      ...terms,
      warnings: [...terms.warnings, ...clearance.warnings],
      checks: clearance.audit,
    };
    if (clearance.redactor !== undefined) {
      checked.redaction = { redactor: clearance.redactor, restore: clearance.restore };
    }
    return { terms: checked, budgetRules: clearance.budgetRules, subject };
  }

  #subject(terms: HoldTerms): PreflightSubject {
    return {
      request: terms.request,
      holdUsertokens: terms.holdUsertokens,
      maxOutputTokens: terms.maxOutputTokens,
      readBalance: () => this.ledger.balance(),
      budgetRulesAtReserve: this.ledger.admits !== undefined,
      now: new Date(),
      denialData: { transferId: terms.transferId, promptHash: terms.promptHash },
    };
  }

  /** The provider's circuit lets the call through, or it is refused (and audited) before any hold. */
  #admit(request: GovernedRequest): Admission {
    try {
      return this.#breaker.admit(request.provider, this.#onCircuit);
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        this.#recorder.recordDenial("circuit_open", request, {
          reason: error.message,
          retryAfterMs: error.retryAfterMs,
        });
      }
      throw error;
    }
  }

  #assertOpen(): void {
    if (this.#closing !== null) throw new ClientDestroyedError();
  }

  #assertUsable(): void {
    this.#assertOpen();
    this.#recorder.assertWorking();
  }

  async #close(): Promise<void> {
    await Promise.allSettled([...this.#authorizing]);
    await this.#retryUnposted().catch(() => {});
    const open = [...this.#inFlight];
    await Promise.allSettled(
      open.map((hold) => hold.void("the client was destroyed before the call settled", "hold_voided")),
    );
    this.#preflight.close();
    await this.#recorder.flush();
    await this.ledger.close();
    this.#recorder.close();
    this.#database.close();
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

/** Scopes are plain paths: no empty, "." or ".." segment (see InvalidScopeError). */
function assertPlainScopes(scopes: readonly string[] | undefined): void {
  for (const scope of scopes ?? []) {
    if (scope.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) {
      throw new InvalidScopeError(scope);
    }
  }
}

interface UnpostedSpend {
  terms: HoldTerms;
  cost: number;
  usage: Usage;
  source: UsageSource;
  warnings: string[];
}
