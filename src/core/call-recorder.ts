import type { AuditChain } from "./audit/audit-chain.ts";
import { type AuditEvent, auditText } from "./audit/audit-event.ts";
import { CanonicalJsonError } from "./canonical-json.ts";
import { AuditError } from "./errors.ts";
import type { GovernedRequest } from "./governed-request.ts";
import type { HoldTerms } from "./hold.ts";
import { buildReceipt, type ReceiptOutcome, type TrustReceipt } from "./receipt.ts";

/**
 * What the engine writes on the audit chain for its calls, and the receipts that point at it.
 * An append that fails never throws here: the call it records has already happened, so the failure
 * is kept, shown on receipts (`auditDegraded`), and `assertWorking` refuses every later call.
 */
export class CallRecorder {
  readonly #audit: AuditChain;
  /** Who an event names when the call names nobody. */
  readonly #defaultActor: string;
  #failure: Error | null = null;

  constructor(audit: AuditChain, defaultActor: string) {
    this.#audit = audit;
    this.#defaultActor = defaultActor;
  }

  /** An event about a call whose hold terms exist: its transfer id, model, prompt hash and check findings. */
  record(kind: AuditEvent["kind"], terms: HoldTerms, data: Record<string, unknown>): AuditEvent | null {
    return this.append(kind, terms.request.actor, {
      transferId: terms.transferId,
      model: auditText(terms.request.model),
      provider: terms.request.provider,
      promptHash: terms.promptHash,
      ...terms.checks,
      ...data,
    });
  }

  /** A call refused before it had hold terms (or without them). */
  recordDenial(kind: AuditEvent["kind"], request: GovernedRequest, data: Record<string, unknown>): void {
    this.append(kind, request.actor, {
      model: auditText(request.model),
      provider: request.provider,
      ...(request.scope === undefined ? {} : { scope: request.scope.map(auditText) }),
      ...data,
    });
  }

  append(
    kind: AuditEvent["kind"],
    actor: string | undefined,
    data: Record<string, unknown>,
  ): AuditEvent | null {
    const who = auditText(actor ?? this.#defaultActor);
    try {
      return this.#audit.append(kind, who, data);
    } catch (error) {
      // Caller text with no canonical form (a lone surrogate in a policy value, say) must not stop
      // the chain: the event is written with such text made well-formed.
      if ((error as Error).cause instanceof CanonicalJsonError) {
        try {
          return this.#audit.append(kind, who, wellFormed(data) as Record<string, unknown>);
        } catch (retryError) {
          this.#failure = retryError as Error;
          return null;
        }
      }
      this.#failure = error as Error;
      return null;
    }
  }

  /**
   * An event appended inside a ledger step is written as that step commits; when the disk refused
   * it, the step (money that really moved) committed without it: report it like a failed append.
   */
  written(event: AuditEvent | null): AuditEvent | null {
    const failure = event === null ? undefined : this.#audit.writeFailureOf(event);
    if (failure === undefined) return event;
    this.#failure = failure;
    return null;
  }

  /** Waits for the audit's group commit (strict durability); with none, returns nothing to wait for. */
  flush(): Promise<void> | undefined {
    return this.#audit.flush()?.catch((error: unknown) => {
      this.#failure = error as Error;
    });
  }

  receipt(terms: HoldTerms, event: AuditEvent | null, outcome: ReceiptOutcome): TrustReceipt {
    return buildReceipt(terms, event, outcome, this.#audit.path, this.#failure);
  }

  /** Throws once any audit write has failed: calls must not go unrecorded. */
  assertWorking(): void {
    if (this.#failure === null) return;
    throw new AuditError(
      `Refusing new calls: an earlier audit write failed (${this.#failure.message}), and calls must not go ` +
        "unrecorded. Fix the vault's disk or permissions, run `usertrust verify`, then create a new client.",
      { cause: this.#failure },
    );
  }

  close(): void {
    this.#audit.close();
  }
}

/** A copy with lone surrogates replaced (U+FFFD) and non-finite numbers as null, as JSON.stringify writes them. */
function wellFormed(value: unknown): unknown {
  if (typeof value === "string") return value.toWellFormed();
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(wellFormed);
  if (typeof value !== "object" || value === null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) copy[key.toWellFormed()] = wellFormed(member);
  return copy;
}
