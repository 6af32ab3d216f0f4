import type { AuditChain } from "./audit/audit-chain.ts";
import type { AuditEvent } from "./audit/audit-event.ts";
import { auditText, sha256Hex } from "./audit/audit-event.ts";
import type { EscalationHandler } from "./board/escalation.ts";
import { type BudgetReport, budgetReport } from "./budgets/budget-report.ts";
import { CallRecorder } from "./call-recorder.ts";
import {
  type Admission,
  type CallOutcome,
  type CircuitBreaker,
  type CircuitTransition,
  vaultBreaker,
} from "./circuit-breaker.ts";
import type { TrustConfig } from "./config.ts";
import { CircuitOpenError, ClientDestroyedError, UnknownModelError } from "./errors.ts";
import { assertPlainScopes, type GovernedRequest } from "./governed-request.ts";
import { Hold, type HoldCloser, type HoldTerms, newTransferId } from "./hold.ts";
import { HoldReserver } from "./hold-reserver.ts";
import { holdTerms } from "./hold-sizing.ts";
import { type Clock, type Ledger, type LedgerBalance, makeBalance, systemClock } from "./ledger/ledger.ts";
import type { PolicyRule } from "./policy/policy-rule.ts";
import { Preflight, type PreflightSubject } from "./preflight.ts";
import { costUsertokens, PriceBook } from "./price-book.ts";
import type { TrustReceipt } from "./receipt.ts";
import { SpendPoster } from "./spend-poster.ts";
import type { ToolCallSubject, ToolDecision } from "./tool-review.ts";
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
  readonly #spends: SpendPoster;
  readonly #breaker: CircuitBreaker;
  /** Circuit state changes this engine's calls cause are audited on its chain. */
  readonly #onCircuit = (transition: CircuitTransition): void => {
    this.#recorder.append("circuit_state", undefined, { ...transition });
  };
  readonly #preflight: Preflight;
  readonly #reserver: HoldReserver;
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
    this.#spends = new SpendPoster(ledger, this.#recorder, config.warnAt);
    this.#breaker = vaultBreaker(paths.root, {
      failureThreshold: config.circuitBreaker.failureThreshold,
      resetTimeoutMs: config.circuitBreaker.resetTimeout,
      probeTimeoutMs: config.holdTimeoutSeconds * 1000,
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
    this.#reserver = new HoldReserver({
      ledger,
      preflight: this.#preflight,
      recorder: this.#recorder,
      config,
      clock,
    });
  }

  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Estimate → reserve, refusing with a typed error (and an audit event) before anything leaves
   * the process. The breaker, policy gate, PII guard and board run between estimate and reserve.
   */
  async authorize(request: GovernedRequest, options: CallOptions = {}): Promise<Hold> {
    this.#assertUsable();
    // close() waits for authorizations in progress, so a hold placed while it runs is voided, not orphaned.
    const authorizing = this.#authorize(request, options);
    this.#authorizing.add(authorizing);
    try {
      return await authorizing;
    } finally {
      this.#authorizing.delete(authorizing);
    }
  }

  async #authorize(request: GovernedRequest, options: CallOptions): Promise<Hold> {
    assertPlainScopes(request.scope);
    if (this.#spends.owed) await this.#spends.retry();
    // The retried spend's audit event may have failed to write: then this call is refused too.
    this.#assertUsable();
    const admission = this.#admit(request);
    let terms: HoldTerms;
    try {
      const checked = await this.#check({ ...this.#estimate(request), admission }, options);
      terms = checked.terms;
      if (this.#closing !== null) throw new ClientDestroyedError();
      await this.#reserver.reserve(
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
  async reviewToolCall(call: Omit<ToolCallSubject, "now">, options: CallOptions = {}): Promise<ToolDecision> {
    this.#assertUsable();
    assertPlainScopes(call.scope);
    const result = await this.#preflight.checkTool({ ...call, now: new Date() }, options.onEscalate);
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
      const { posted, event } = await this.#spends.post({ terms, cost, usage, source, warnings });
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
      this.#spends.owe({ terms, cost, usage, source, warnings });
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
      await this.#recordOutcome(terms, outcome);
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
      await this.#recordOutcome(terms, outcome);
    }
  }

  /**
   * Tells the provider's circuit how the call went. A state change it causes is audited, and with
   * strict durability that event is flushed before the call returns, as the call's own were.
   */
  async #recordOutcome(terms: HoldTerms, outcome: CallOutcome): Promise<void> {
    if (terms.admission === undefined) return;
    let changed = false;
    this.#breaker.record(terms.admission, outcome, (transition) => {
      changed = true;
      this.#onCircuit(transition);
    });
    if (changed) await this.#recorder.flush();
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
   * PII, injection, policy and board checks; a refusal throws (audited), a clearance adds warnings
   * and findings. Rules that read only the budget may be left for the reserve (#reserve).
   */
  async #check(
    terms: HoldTerms,
    options: CallOptions,
  ): Promise<{
    terms: HoldTerms;
    budgetRules: readonly PolicyRule[] | undefined;
    subject: PreflightSubject;
  }> {
    const subject = this.#subject(terms);
    if (options.onEscalate !== undefined) subject.onEscalate = options.onEscalate;
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
      return this.#breaker.admit(request, this.#onCircuit);
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
    await this.#spends.retry().catch(() => {});
    const open = [...this.#inFlight];
    await Promise.allSettled(
      open.map((hold) => hold.void("the client was destroyed before the call settled", "hold_voided")),
    );
    // Each part is closed even if one before it fails (a board that cannot write its session, a
    // full disk), so none is left open; the first failure is rethrown once all are done.
    const failures: unknown[] = [];
    const closeStep = async (step: () => unknown): Promise<void> => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    await closeStep(() => this.#preflight.close());
    await closeStep(() => this.#recorder.flush());
    await closeStep(() => this.ledger.close());
    await closeStep(() => this.#recorder.close());
    await closeStep(() => this.#database.close());
    if (failures.length > 0) throw failures[0];
  }
}

/** Per-call settings a surface passes with each call, over the engine's own. */
export interface CallOptions {
  /** Decides this call's escalated board review, instead of the engine's handler or `board.escalation`. */
  onEscalate?: EscalationHandler;
}
