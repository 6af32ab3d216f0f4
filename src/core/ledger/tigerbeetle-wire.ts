import type {
  Account,
  AccountFlags,
  CreateAccountStatus,
  CreateTransferResult,
  CreateTransferStatus,
  Transfer,
  TransferFlags,
} from "tigerbeetle-node";

// TigerBeetle's wire values. Typed with tigerbeetle-node's enums, so the compiler checks them against
// the package, which is loaded only at runtime and only when the adapter creates a client.
export const PENDING: TransferFlags.pending = 2;
export const POST_PENDING: TransferFlags.post_pending_transfer = 4;
export const VOID_PENDING: TransferFlags.void_pending_transfer = 8;
export const BALANCING_DEBIT: TransferFlags.balancing_debit = 16;
const LINKED: TransferFlags.linked = 1;
export const DEBITS_MUST_NOT_EXCEED_CREDITS: AccountFlags.debits_must_not_exceed_credits = 2;
export const ACCOUNT_CREATED: CreateAccountStatus.created = 4294967295;
export const ACCOUNT_EXISTS: CreateAccountStatus.exists = 21;
const CREATED: CreateTransferStatus.created = 4294967295;
const LINKED_EVENT_FAILED: CreateTransferStatus.linked_event_failed = 1;
export const EXCEEDS_CREDITS: CreateTransferStatus.exceeds_credits = 54;
export const PENDING_TRANSFER_EXPIRED: CreateTransferStatus.pending_transfer_expired = 35;
const EXISTS_STATUSES: ReadonlySet<number> = new Set<
  | CreateTransferStatus.exists
  | CreateTransferStatus.exists_with_different_flags
  | CreateTransferStatus.exists_with_different_pending_id
  | CreateTransferStatus.exists_with_different_timeout
  | CreateTransferStatus.exists_with_different_debit_account_id
  | CreateTransferStatus.exists_with_different_credit_account_id
  | CreateTransferStatus.exists_with_different_amount
  | CreateTransferStatus.exists_with_different_user_data_128
  | CreateTransferStatus.exists_with_different_user_data_64
  | CreateTransferStatus.exists_with_different_user_data_32
  | CreateTransferStatus.exists_with_different_ledger
  | CreateTransferStatus.exists_with_different_code
>([46, 36, 40, 44, 37, 38, 39, 41, 42, 43, 67, 45]);
const STATUS_NAMES: ReadonlyMap<number, string> = new Map<CreateTransferStatus, string>([
  [21, "debit_account_not_found"],
  [22, "credit_account_not_found"],
  [23, "accounts_must_have_the_same_ledger"],
  [24, "transfer_must_have_the_same_ledger_as_accounts"],
  [25, "pending_transfer_not_found"],
  [33, "pending_transfer_already_posted"],
  [34, "pending_transfer_already_voided"],
  [54, "exceeds_credits"],
  [68, "id_already_failed"],
]);

export const U32_MAX = 2 ** 32 - 1;
export const U64_MAX = 2n ** 64n - 1n;
export const U128_MAX = 2n ** 128n - 1n;
/** The cluster stamps events in nanoseconds. */
export const NS_PER_MS = 1_000_000n;

/** Account codes, so usertrust's accounts say what they are in other tools. */
export const ACCOUNT_CODE = { operator: 1, spendable: 2, spent: 3, limit: 4 } as const;
export const TRANSFER_CODE = { limit: 1, sync: 2, holdMarker: 3, hold: 4, settleMarker: 5, late: 6 } as const;

/** Any `exists…` answer: the id was taken before, by this call's first attempt or by another host. */
export function isExists(status: number): boolean {
  return EXISTS_STATUSES.has(status);
}

export function statusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `status ${status} (see CreateTransferStatus in tigerbeetle-node)`;
}

/** The event that broke a chain; the others in it report linked_event_failed. */
export function firstFailure(
  results: readonly CreateTransferResult[],
): { index: number; status: number } | undefined {
  const index = results.findIndex(
    (result) => result.status !== CREATED && result.status !== LINKED_EVENT_FAILED,
  );
  if (index >= 0) return { index, status: results[index]?.status ?? 0 };
  const linkedFailure = results.findIndex((result) => result.status !== CREATED);
  return linkedFailure < 0 ? undefined : { index: linkedFailure, status: LINKED_EVENT_FAILED };
}

/** One all-or-nothing chain: every event but the last is linked to the next. */
export function linked(events: readonly Transfer[]): Transfer[] {
  return events.map((event, index) =>
    index < events.length - 1 ? { ...event, flags: event.flags | LINKED } : event,
  );
}

export function transferOf(fields: Pick<Transfer, "id"> & Partial<Transfer>): Transfer {
  return {
    debit_account_id: 0n,
    credit_account_id: 0n,
    amount: 0n,
    pending_id: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    timeout: 0,
    ledger: 0,
    code: 0,
    flags: 0,
    timestamp: 0n,
    ...fields,
  };
}

export function accountOf(id: bigint, ledger: number, code: number, flags: number): Account {
  return {
    id,
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    reserved: 0,
    ledger,
    code,
    flags,
    timestamp: 0n,
  };
}
