import type { AuditEvent } from "./audit/audit-event.ts";
import { budgetAlerts } from "./budgets/budget-alerts.ts";
import type { CallRecorder } from "./call-recorder.ts";
import { LedgerUnavailableError } from "./errors.ts";
import type { HoldTerms } from "./hold.ts";
import type { Ledger, PostResult } from "./ledger/ledger.ts";
import { postWarnings } from "./receipt.ts";
import type { Usage, UsageSource } from "./usage.ts";

/** A settled call's cost on its way to the ledger (and, if the post fails, kept until it lands). */
export interface Spend {
  terms: HoldTerms;
  cost: number;
  usage: Usage;
  source: UsageSource;
  /** The receipt's warnings: the post adds its own (shortfall, thresholds). */
  warnings: string[];
}

/**
 * Posts settled costs with their `spend` audit event, and keeps the costs whose post failed: the
 * provider has answered and charged, so each is posted before anything else may spend.
 */
export class SpendPoster {
  readonly #ledger: Ledger;
  readonly #recorder: CallRecorder;
  readonly #warnAt: readonly number[];
  readonly #unposted: Spend[] = [];
  #retrying: Promise<void> | null = null;

  constructor(ledger: Ledger, recorder: CallRecorder, warnAt: readonly number[]) {
    this.#ledger = ledger;
    this.#recorder = recorder;
    this.#warnAt = warnAt;
  }

  /** Costs whose post failed and that must land before the next call. */
  get owed(): boolean {
    return this.#unposted.length > 0;
  }

  /**
   * Posts the cost and writes the spend event inside the ledger's post step, so on the SQLite
   * ledger the spend and its audit record commit in one transaction.
   */
  async post(spend: Spend): Promise<{ posted: PostResult; event: AuditEvent | null }> {
    const { terms, cost, usage, source, warnings } = spend;
    let event: AuditEvent | null = null;
    const posted = await this.#ledger.post(terms.transferId, cost, (result) => {
      const alerts = budgetAlerts(result, this.#warnAt, terms.scoped ?? []);
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

  /** Keeps a cost whose post failed, for `retry`. */
  owe(spend: Spend): void {
    this.#unposted.push(spend);
  }

  /**
   * Posts the kept costs, oldest first; rejects (and keeps the rest) at the first that still fails.
   * Calls that start together share one retry, so each cost is posted (and audited) once.
   */
  retry(): Promise<void> {
    this.#retrying ??= this.#postOwed().finally(() => {
      this.#retrying = null;
    });
    return this.#retrying;
  }

  async #postOwed(): Promise<void> {
    while (this.#unposted.length > 0) {
      const spend = this.#unposted[0] as Spend;
      try {
        await this.post(spend);
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
}
