import { randomUUID } from "node:crypto";
import type { ScopedHold } from "./budgets/scoped-budgets.ts";
import type { Admission, CallOutcome } from "./circuit-breaker.ts";
import type { GovernedRequest } from "./governed-request.ts";
import type { Redactor } from "./guards/redactor.ts";
import { estimatedUsage } from "./hold-sizing.ts";
import type { ModelRates } from "./price-book.ts";
import type { TrustReceipt } from "./receipt.ts";
import type { Usage, UsageSource } from "./usage.ts";

/** What authorize decided and reserved for one call. */
export interface HoldTerms {
  transferId: string;
  request: GovernedRequest;
  rates: ModelRates;
  inputTokensEstimate: number;
  maxOutputTokens: number;
  /** The worst case the hold prices: the prompt estimate, every allowed output token, the request's extras. */
  heldUsage: Usage;
  holdUsertokens: number;
  promptHash: string;
  warnings: readonly string[];
  /** The provider circuit's admission of this call, reported back when the call ends. */
  admission?: Admission;
  /** What the preflight checks found (PII counts, injection kinds, policy matches, board outcome), for audit events. */
  checks?: Readonly<Record<string, unknown>>;
  /** The scoped budgets (config `budgets`) the hold was also placed on, at their current periods. */
  scoped?: readonly ScopedHold[];
  /** Set when the prompt's personal data must be replaced before sending (pii: redact). */
  redaction?: { redactor: Redactor; restore: boolean };
}

/** The engine side of a hold: how it settles and voids. Kept out of Hold so Hold stays a plain handle. */
export interface HoldCloser {
  settle(hold: Hold, usage: Usage, source: UsageSource, outcome: CallOutcome): Promise<TrustReceipt>;
  void(
    hold: Hold,
    reason: string,
    kind: "call_failed" | "hold_voided",
    outcome: CallOutcome,
  ): Promise<TrustReceipt>;
}

/**
 * A reserved budget hold for one call. It ends exactly once: the first settle or void wins and
 * every later call returns that same receipt, so a stream that both errors and is broken out of
 * cannot settle twice.
 */
export class Hold {
  readonly terms: HoldTerms;
  /** Resolves with the receipt however the hold ends; never rejects unhandled. */
  readonly receipt: Promise<TrustReceipt>;
  readonly #closer: HoldCloser;
  #resolve!: (receipt: TrustReceipt) => void;
  #reject!: (error: unknown) => void;
  #ending: Promise<TrustReceipt> | null = null;

  constructor(terms: HoldTerms, closer: HoldCloser) {
    this.terms = terms;
    this.#closer = closer;
    this.receipt = new Promise<TrustReceipt>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.receipt.catch(() => {});
  }

  get transferId(): string {
    return this.terms.transferId;
  }

  get ended(): boolean {
    return this.#ending !== null;
  }

  /**
   * Posts the real cost of `usage` (capped at the hold) and writes the spend event. `outcome`: how
   * the provider did, for its circuit — a stream it broke off mid-way is a fault, though it is paid for.
   */
  settle(
    usage: Usage,
    source: UsageSource = "provider",
    outcome: CallOutcome = "success",
  ): Promise<TrustReceipt> {
    return this.#end(() => this.#closer.settle(this, usage, source, outcome));
  }

  /** Settles on an estimate when the provider reported no usage: the prompt estimate plus what was received. */
  settleEstimated(outputBytes: number, outcome: CallOutcome = "success"): Promise<TrustReceipt> {
    const { inputTokensEstimate, request } = this.terms;
    return this.settle(
      estimatedUsage(inputTokensEstimate, outputBytes, request.tokenRatePercent),
      "estimated",
      outcome,
    );
  }

  /**
   * Settles at the whole hold (the prompt estimate and every allowed output token), for a call
   * whose usage usertrust cannot see, such as a raw response body the caller reads itself.
   */
  settleAtHold(): Promise<TrustReceipt> {
    return this.settle(this.terms.heldUsage, "estimated");
  }

  /**
   * Releases the hold without spending; the receipt has settled: false and cost 0. `outcome` says
   * whether the provider was at fault (it counts towards opening the provider's circuit).
   */
  void(
    reason: string,
    kind: "call_failed" | "hold_voided" = "call_failed",
    outcome: CallOutcome = "neutral",
  ): Promise<TrustReceipt> {
    return this.#end(() => this.#closer.void(this, reason, kind, outcome));
  }

  #end(run: () => Promise<TrustReceipt>): Promise<TrustReceipt> {
    if (this.#ending === null) {
      this.#ending = run();
      this.#ending.then(this.#resolve, this.#reject);
    }
    return this.#ending;
  }
}

/** Unique across processes and readable in logs: time first, then 48 random bits. */
export function newTransferId(): string {
  const uuid = randomUUID();
  return `tx_${Date.now().toString(36)}_${uuid.slice(0, 8)}${uuid.slice(9, 13)}`;
}
