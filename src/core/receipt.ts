import type { AuditEvent } from "./audit/audit-event.ts";
import type { HoldTerms } from "./hold.ts";
import type { LedgerBalance, PostResult } from "./ledger/ledger.ts";
import type { Usage, UsageSource } from "./usage.ts";

/** What every governed call returns alongside the provider's response. */
export interface TrustReceipt {
  /** The ledger hold's id; also on the audit event. */
  transferId: string;
  /** What the call cost in usertokens (1 UT = $0.0001); 0 when it was voided. */
  cost: number;
  /** budget − spent − held, read from the ledger in the same step that settled this call. */
  budgetRemaining: number;
  /** Hash of this call's audit event ("" when the audit write failed; see auditDegraded). */
  auditHash: string;
  chainPath: string;
  receiptUrl: string | null;
  /** true when the hold was posted; false when it was voided. */
  settled: boolean;
  model: string;
  provider: string;
  /** ISO 8601. */
  timestamp: string;
  /** Present and true when the audit event could not be written; further calls are refused. */
  auditDegraded?: boolean;
  usage: Usage;
  usageSource: UsageSource;
  /** Everything a careful user should know about this call: price guesses, shortfalls, late settles. */
  warnings: string[];
}

/** How a hold ended, as the receipt reports it. */
export interface ReceiptOutcome {
  cost: number;
  balance: LedgerBalance;
  settled: boolean;
  usage: Usage;
  source: UsageSource;
  warnings: string[];
}

export function buildReceipt(
  terms: HoldTerms,
  event: AuditEvent | null,
  outcome: ReceiptOutcome,
  chainPath: string,
  auditFailure: Error | null,
): TrustReceipt {
  const receipt: TrustReceipt = {
    transferId: terms.transferId,
    cost: outcome.cost,
    budgetRemaining: outcome.balance.remainingUsertokens,
    auditHash: event?.hash ?? "",
    chainPath,
    receiptUrl: null,
    settled: outcome.settled,
    model: terms.request.model,
    provider: terms.request.provider,
    timestamp: event?.timestamp ?? new Date().toISOString(),
    usage: { ...outcome.usage },
    usageSource: outcome.source,
    warnings: outcome.warnings,
  };
  if (event === null) {
    receipt.auditDegraded = true;
    receipt.warnings.push(
      `the audit event could not be written: ${auditFailure?.message ?? "unknown error"}`,
    );
  }
  return receipt;
}

/** What a post's result means for the caller, in words for the receipt and the audit event. */
export function postWarnings(cost: number, result: PostResult): string[] {
  const warnings: string[] = [];
  if (result.shortfallUsertokens > 0) {
    warnings.push(
      `the call cost ${cost} UT but only ${result.postedUsertokens} UT could be posted against its hold; ` +
        `${result.shortfallUsertokens} UT went unrecorded in the budget`,
    );
  }
  if (result.lateSettle) warnings.push("the hold expired before the call settled; the cost was posted late");
  return warnings;
}
