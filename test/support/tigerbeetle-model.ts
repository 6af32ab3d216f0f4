import type {
  Account,
  AccountBalance,
  Client,
  CreateAccountResult,
  CreateTransferResult,
  Transfer,
} from "tigerbeetle-node";
import {
  AccountFlags,
  amount_max,
  CreateAccountStatus,
  CreateTransferStatus,
  ErrorCodes,
  RequestError,
  TransferFlags,
} from "tigerbeetle-node";

/**
 * A behaviour model of the TigerBeetle 0.17 state machine, covering what usertrust relies on, so
 * the adapter's suites run in CI where no cluster can be installed. It follows the state machine's
 * own order of checks (src/state_machine.zig: create_account, create_transfer,
 * post_or_void_pending_transfer, create_transfer_exists), and the same suite of tests runs against
 * a live cluster (test/core/ledger/tigerbeetle-model.test.ts) to keep the two in agreement.
 *
 * Modelled: accounts with debits_must_not_exceed_credits / credits_must_not_exceed_debits;
 * single-phase, pending (with timeout), post (partial, zero, amount_max) and void transfers;
 * balancing_debit / balancing_credit; linked chains (all or nothing, linked_event_failed,
 * linked_event_chain_open); idempotent ids (exists, exists_with_different_*) and ids that failed
 * with a transient error (id_already_failed); expiry by cluster time; lookups.
 * Not modelled (they reject with "not modelled"): imported events, closing transfers and closed
 * accounts, and the query operations (getAccountTransfers, getAccountBalances, queryAccounts,
 * queryTransfers).
 *
 * Time: the injected clock gives cluster time in milliseconds. Each event is stamped with a
 * nanosecond timestamp, strictly increasing, starting at the clock's millisecond; timeouts are
 * judged at the millisecond: a pending transfer has expired once the clock reaches the millisecond
 * its timeout ends in (a live cluster decides to the nanosecond, and releases the balance at its
 * next pulse, a few milliseconds later).
 */
export class TigerBeetleModel implements Client {
  /**
   * While true, every request hangs, as the real client retries forever against a cluster it
   * cannot reach; destroy() rejects the hanging requests with ERR_CLIENT_CLOSED.
   */
  unreachable = false;

  readonly #clock: () => number;
  readonly #accounts = new Map<bigint, Account>();
  readonly #transfers = new Map<bigint, Transfer>();
  /** Resolution of each pending transfer, by its id. */
  readonly #resolutions = new Map<bigint, Resolution>();
  readonly #inFlight = new Set<bigint>();
  /** Ids of transfers that failed with a transient error: they can never be used again. */
  readonly #failedIds = new Set<bigint>();
  readonly #hanging = new Set<(error: Error) => void>();
  /** Undo steps of the linked chain being applied, newest last; undefined outside a chain. */
  #undo: (() => void)[] | undefined;
  #lastTimestamp = 0n;
  #destroyed = false;

  /** `clock` gives cluster time in milliseconds since the epoch. */
  constructor(clock: () => number) {
    this.#clock = clock;
  }

  createAccounts(batch: Account[]): Promise<CreateAccountResult[]> {
    return this.#request(batch.length, (nowMs) => {
      refuseUnmodelled(batch, AccountFlags.imported | AccountFlags.closed, "imported and closed accounts");
      return this.#execute(
        batch,
        AccountFlags.linked,
        (account, timestamp) => this.#createAccount(account, timestamp),
        {
          created: CreateAccountStatus.created,
          linkedEventFailed: CreateAccountStatus.linked_event_failed,
          chainOpen: CreateAccountStatus.linked_event_chain_open,
          timestampMustBeZero: CreateAccountStatus.timestamp_must_be_zero,
          nowMs,
        },
      );
    });
  }

  createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]> {
    const unmodelled = TransferFlags.imported | TransferFlags.closing_debit | TransferFlags.closing_credit;
    return this.#request(batch.length, (nowMs) => {
      refuseUnmodelled(batch, unmodelled, "imported and closing transfers");
      return this.#execute(
        batch,
        TransferFlags.linked,
        (transfer, timestamp) => this.#createTransfer(transfer, timestamp, nowMs),
        {
          created: CreateTransferStatus.created,
          linkedEventFailed: CreateTransferStatus.linked_event_failed,
          chainOpen: CreateTransferStatus.linked_event_chain_open,
          timestampMustBeZero: CreateTransferStatus.timestamp_must_be_zero,
          nowMs,
          onFailure: (transfer, status) => {
            if (TRANSIENT.has(status)) this.#failedIds.add(transfer.id);
          },
        },
      );
    });
  }

  lookupAccounts(batch: bigint[]): Promise<Account[]> {
    return this.#request(batch.length, () =>
      batch.flatMap((id) => {
        const account = this.#accounts.get(id);
        return account === undefined ? [] : [{ ...account }];
      }),
    );
  }

  lookupTransfers(batch: bigint[]): Promise<Transfer[]> {
    return this.#request(batch.length, () =>
      batch.flatMap((id) => {
        const transfer = this.#transfers.get(id);
        return transfer === undefined ? [] : [{ ...transfer }];
      }),
    );
  }

  getAccountTransfers(): Promise<Transfer[]> {
    return notModelled("getAccountTransfers");
  }

  getAccountBalances(): Promise<AccountBalance[]> {
    return notModelled("getAccountBalances");
  }

  queryAccounts(): Promise<Account[]> {
    return notModelled("queryAccounts");
  }

  queryTransfers(): Promise<Transfer[]> {
    return notModelled("queryTransfers");
  }

  destroy(): void {
    this.#destroyed = true;
    for (const reject of this.#hanging) reject(new RequestError(ErrorCodes.ERR_CLIENT_CLOSED));
    this.#hanging.clear();
  }

  /** Every account as the cluster holds it now, for tests that look beneath the adapter. */
  accountsNow(): Account[] {
    this.#expire(Math.floor(this.#clock()));
    return [...this.#accounts.values()].map((account) => ({ ...account }));
  }

  /**
   * One request: settled at once (its effects applied in submission order, as the cluster does
   * for one client), hanging while unreachable, refused once destroyed. Pending transfers whose
   * timeout has passed expire first, as the cluster's pulse would have expired them.
   */
  #request<T>(eventCount: number, run: (nowMs: number) => T): Promise<T> {
    if (this.#destroyed) return Promise.reject(new RequestError(ErrorCodes.ERR_CLIENT_CLOSED));
    if (eventCount > BATCH_EVENTS_MAX) return Promise.reject(new RequestError(ErrorCodes.ERR_TOO_MUCH_DATA));
    if (this.unreachable) {
      return new Promise<T>((_, reject) => {
        this.#hanging.add(reject);
      });
    }
    try {
      const nowMs = Math.floor(this.#clock());
      this.#expire(nowMs);
      return Promise.resolve(run(nowMs));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The batch loop of the state machine's execute_create: chains, rollback, one result per event. */
  #execute<Event extends Account | Transfer, Status extends number>(
    events: readonly Event[],
    linkedFlag: number,
    create: (event: Event, timestamp: bigint) => Status,
    codes: {
      created: Status;
      linkedEventFailed: Status;
      chainOpen: Status;
      timestampMustBeZero: Status;
      nowMs: number;
      onFailure?: (event: Event, status: Status) => void;
    },
  ): { timestamp: bigint; status: Status }[] {
    const results: { timestamp: bigint; status: Status }[] = [];
    let chainStart: number | undefined;
    let chainBroken = false;
    for (const [index, event] of events.entries()) {
      const timestamp = this.#nextTimestamp(codes.nowMs);
      const linked = (event.flags & linkedFlag) !== 0;
      let status: Status | undefined;
      if (linked) {
        if (chainStart === undefined) {
          chainStart = index;
          this.#undo = [];
        }
        if (index === events.length - 1) status = codes.chainOpen;
      }
      if (status === undefined && chainBroken) status = codes.linkedEventFailed;
      if (status === undefined && event.timestamp !== 0n) status = codes.timestampMustBeZero;
      status ??= create(event, timestamp);

      if (status !== codes.created) {
        if (chainStart !== undefined && !chainBroken) {
          chainBroken = true;
          this.#rollBack();
          for (let earlier = chainStart; earlier < index; earlier += 1) {
            const result = results[earlier];
            if (result !== undefined) result.status = codes.linkedEventFailed;
          }
        }
        codes.onFailure?.(event, status);
      }
      results.push({ timestamp: this.#resultTimestamp(event, status, timestamp), status });

      if (chainStart !== undefined && (!linked || status === codes.chainOpen)) {
        chainStart = undefined;
        chainBroken = false;
        this.#undo = undefined;
      }
    }
    return results;
  }

  /** `exists` reports the timestamp of the object that exists, as `created` did. */
  #resultTimestamp(event: Account | Transfer, status: number, timestamp: bigint): bigint {
    const exists =
      "debits_pending" in event
        ? status === CreateAccountStatus.exists
          ? this.#accounts.get(event.id)
          : undefined
        : status === CreateTransferStatus.exists
          ? this.#transfers.get(event.id)
          : undefined;
    return exists?.timestamp ?? timestamp;
  }

  #createAccount(a: Account, timestamp: bigint): CreateAccountStatus {
    if (a.reserved !== 0) return CreateAccountStatus.reserved_field;
    if ((a.flags & ~ACCOUNT_FLAGS_KNOWN) !== 0) return CreateAccountStatus.reserved_flag;
    if (a.id === 0n) return CreateAccountStatus.id_must_not_be_zero;
    if (a.id === U128_MAX) return CreateAccountStatus.id_must_not_be_int_max;

    const existing = this.#accounts.get(a.id);
    if (existing !== undefined) return accountExists(a, existing);

    const limitFlags =
      AccountFlags.debits_must_not_exceed_credits | AccountFlags.credits_must_not_exceed_debits;
    if ((a.flags & limitFlags) === limitFlags) return CreateAccountStatus.flags_are_mutually_exclusive;
    if (a.debits_pending !== 0n) return CreateAccountStatus.debits_pending_must_be_zero;
    if (a.debits_posted !== 0n) return CreateAccountStatus.debits_posted_must_be_zero;
    if (a.credits_pending !== 0n) return CreateAccountStatus.credits_pending_must_be_zero;
    if (a.credits_posted !== 0n) return CreateAccountStatus.credits_posted_must_be_zero;
    if (a.ledger === 0) return CreateAccountStatus.ledger_must_not_be_zero;
    if (a.code === 0) return CreateAccountStatus.code_must_not_be_zero;

    const created: Account = { ...a, timestamp };
    this.#accounts.set(a.id, created);
    this.#undo?.push(() => this.#accounts.delete(a.id));
    return CreateAccountStatus.created;
  }

  #createTransfer(t: Transfer, timestamp: bigint, nowMs: number): CreateTransferStatus {
    if ((t.flags & ~TRANSFER_FLAGS_KNOWN) !== 0) return CreateTransferStatus.reserved_flag;
    if (t.id === 0n) return CreateTransferStatus.id_must_not_be_zero;
    if (t.id === U128_MAX) return CreateTransferStatus.id_must_not_be_int_max;

    const existing = this.#transfers.get(t.id);
    if (existing !== undefined) return this.#transferExists(t, existing);
    if (this.#failedIds.has(t.id)) return CreateTransferStatus.id_already_failed;

    if (has(t, TransferFlags.post_pending_transfer) || has(t, TransferFlags.void_pending_transfer)) {
      return this.#postOrVoid(t, timestamp, nowMs);
    }

    if (t.debit_account_id === 0n) return CreateTransferStatus.debit_account_id_must_not_be_zero;
    if (t.debit_account_id === U128_MAX) return CreateTransferStatus.debit_account_id_must_not_be_int_max;
    if (t.credit_account_id === 0n) return CreateTransferStatus.credit_account_id_must_not_be_zero;
    if (t.credit_account_id === U128_MAX) return CreateTransferStatus.credit_account_id_must_not_be_int_max;
    if (t.credit_account_id === t.debit_account_id) return CreateTransferStatus.accounts_must_be_different;
    if (t.pending_id !== 0n) return CreateTransferStatus.pending_id_must_be_zero;
    if (!has(t, TransferFlags.pending) && t.timeout !== 0) {
      return CreateTransferStatus.timeout_reserved_for_pending_transfer;
    }
    if (t.ledger === 0) return CreateTransferStatus.ledger_must_not_be_zero;
    if (t.code === 0) return CreateTransferStatus.code_must_not_be_zero;

    const dr = this.#accounts.get(t.debit_account_id);
    if (dr === undefined) return CreateTransferStatus.debit_account_not_found;
    const cr = this.#accounts.get(t.credit_account_id);
    if (cr === undefined) return CreateTransferStatus.credit_account_not_found;
    if (dr.ledger !== cr.ledger) return CreateTransferStatus.accounts_must_have_the_same_ledger;
    if (t.ledger !== dr.ledger) return CreateTransferStatus.transfer_must_have_the_same_ledger_as_accounts;

    // A balancing transfer's amount is an upper bound: it moves at most what the account has free.
    let amount = t.amount;
    if (has(t, TransferFlags.balancing_debit)) {
      amount = min(amount, saturatingSub(dr.credits_posted, dr.debits_posted + dr.debits_pending));
    }
    if (has(t, TransferFlags.balancing_credit)) {
      amount = min(amount, saturatingSub(cr.debits_posted, cr.credits_posted + cr.credits_pending));
    }

    const pending = has(t, TransferFlags.pending);
    if (pending && amount + dr.debits_pending > U128_MAX)
      return CreateTransferStatus.overflows_debits_pending;
    if (pending && amount + cr.credits_pending > U128_MAX)
      return CreateTransferStatus.overflows_credits_pending;
    if (amount + dr.debits_posted > U128_MAX) return CreateTransferStatus.overflows_debits_posted;
    if (amount + cr.credits_posted > U128_MAX) return CreateTransferStatus.overflows_credits_posted;
    if (amount + dr.debits_pending + dr.debits_posted > U128_MAX)
      return CreateTransferStatus.overflows_debits;
    if (amount + cr.credits_pending + cr.credits_posted > U128_MAX)
      return CreateTransferStatus.overflows_credits;
    if (timestamp + BigInt(t.timeout) * NS_PER_S > U63_MAX) return CreateTransferStatus.overflows_timeout;

    if (
      (dr.flags & AccountFlags.debits_must_not_exceed_credits) !== 0 &&
      dr.debits_pending + dr.debits_posted + amount > dr.credits_posted
    ) {
      return CreateTransferStatus.exceeds_credits;
    }
    if (
      (cr.flags & AccountFlags.credits_must_not_exceed_debits) !== 0 &&
      cr.credits_pending + cr.credits_posted + amount > cr.debits_posted
    ) {
      return CreateTransferStatus.exceeds_debits;
    }

    this.#insertTransfer({ ...t, amount, timestamp });
    if (pending) {
      this.#updateAccount(dr, { debits_pending: dr.debits_pending + amount });
      this.#updateAccount(cr, { credits_pending: cr.credits_pending + amount });
      this.#resolve(t.id, "pending");
    } else {
      this.#updateAccount(dr, { debits_posted: dr.debits_posted + amount });
      this.#updateAccount(cr, { credits_posted: cr.credits_posted + amount });
    }
    return CreateTransferStatus.created;
  }

  #postOrVoid(t: Transfer, timestamp: bigint, nowMs: number): CreateTransferStatus {
    const posting = has(t, TransferFlags.post_pending_transfer);
    const voiding = has(t, TransferFlags.void_pending_transfer);
    if (posting && voiding) return CreateTransferStatus.flags_are_mutually_exclusive;
    const exclusive = TransferFlags.pending | TransferFlags.balancing_debit | TransferFlags.balancing_credit;
    if ((t.flags & exclusive) !== 0) return CreateTransferStatus.flags_are_mutually_exclusive;
    if (t.pending_id === 0n) return CreateTransferStatus.pending_id_must_not_be_zero;
    if (t.pending_id === U128_MAX) return CreateTransferStatus.pending_id_must_not_be_int_max;
    if (t.pending_id === t.id) return CreateTransferStatus.pending_id_must_be_different;
    if (t.timeout !== 0) return CreateTransferStatus.timeout_reserved_for_pending_transfer;

    const p = this.#transfers.get(t.pending_id);
    if (p === undefined) return CreateTransferStatus.pending_transfer_not_found;
    if (!has(p, TransferFlags.pending)) return CreateTransferStatus.pending_transfer_not_pending;
    if (t.debit_account_id !== 0n && t.debit_account_id !== p.debit_account_id) {
      return CreateTransferStatus.pending_transfer_has_different_debit_account_id;
    }
    if (t.credit_account_id !== 0n && t.credit_account_id !== p.credit_account_id) {
      return CreateTransferStatus.pending_transfer_has_different_credit_account_id;
    }
    if (t.ledger !== 0 && t.ledger !== p.ledger)
      return CreateTransferStatus.pending_transfer_has_different_ledger;
    if (t.code !== 0 && t.code !== p.code) return CreateTransferStatus.pending_transfer_has_different_code;

    // Since 0.16 a post of 0 posts nothing and amount_max posts the whole pending amount;
    // a void of 0 (or of exactly the pending amount) voids it all.
    const amount = voiding
      ? t.amount === 0n
        ? p.amount
        : t.amount
      : t.amount === U128_MAX
        ? p.amount
        : t.amount;
    if (amount > p.amount) return CreateTransferStatus.exceeds_pending_transfer_amount;
    if (voiding && amount < p.amount) return CreateTransferStatus.pending_transfer_has_different_amount;

    switch (this.#resolutions.get(p.id)) {
      case "posted":
        return CreateTransferStatus.pending_transfer_already_posted;
      case "voided":
        return CreateTransferStatus.pending_transfer_already_voided;
      case "expired":
        return CreateTransferStatus.pending_transfer_expired;
      default:
        break;
    }
    const expiresAt = expiresAtMs(p);
    if (expiresAt !== undefined && nowMs >= expiresAt) return CreateTransferStatus.pending_transfer_expired;

    this.#insertTransfer({
      ...t,
      debit_account_id: p.debit_account_id,
      credit_account_id: p.credit_account_id,
      user_data_128: t.user_data_128 !== 0n ? t.user_data_128 : p.user_data_128,
      user_data_64: t.user_data_64 !== 0n ? t.user_data_64 : p.user_data_64,
      user_data_32: t.user_data_32 !== 0 ? t.user_data_32 : p.user_data_32,
      ledger: p.ledger,
      code: p.code,
      timeout: 0,
      amount,
      timestamp,
    });
    this.#resolve(p.id, posting ? "posted" : "voided");
    this.#release(p, posting ? amount : 0n);
    return CreateTransferStatus.created;
  }

  #transferExists(t: Transfer, e: Transfer): CreateTransferStatus {
    if (t.flags !== e.flags) return CreateTransferStatus.exists_with_different_flags;
    if (t.pending_id !== e.pending_id) return CreateTransferStatus.exists_with_different_pending_id;
    if (t.timeout !== e.timeout) return CreateTransferStatus.exists_with_different_timeout;

    if (has(t, TransferFlags.post_pending_transfer) || has(t, TransferFlags.void_pending_transfer)) {
      const p = this.#transfers.get(t.pending_id);
      if (p === undefined)
        throw new Error("TigerBeetleModel: a post or void exists without its pending transfer");
      return postOrVoidExists(t, e, p);
    }
    if (t.debit_account_id !== e.debit_account_id)
      return CreateTransferStatus.exists_with_different_debit_account_id;
    if (t.credit_account_id !== e.credit_account_id) {
      return CreateTransferStatus.exists_with_different_credit_account_id;
    }
    // A balancing transfer recorded the amount it could move; the request's amount is its upper bound.
    const balancing = has(t, TransferFlags.balancing_debit) || has(t, TransferFlags.balancing_credit);
    if (balancing ? t.amount < e.amount : t.amount !== e.amount) {
      return CreateTransferStatus.exists_with_different_amount;
    }
    if (t.user_data_128 !== e.user_data_128) return CreateTransferStatus.exists_with_different_user_data_128;
    if (t.user_data_64 !== e.user_data_64) return CreateTransferStatus.exists_with_different_user_data_64;
    if (t.user_data_32 !== e.user_data_32) return CreateTransferStatus.exists_with_different_user_data_32;
    if (t.ledger !== e.ledger) return CreateTransferStatus.exists_with_different_ledger;
    if (t.code !== e.code) return CreateTransferStatus.exists_with_different_code;
    return CreateTransferStatus.exists;
  }

  /** What the cluster's pulse does: pending transfers past their timeout give their amount back. */
  #expire(nowMs: number): void {
    for (const id of this.#inFlight) {
      const p = this.#transfers.get(id);
      const expiresAt = p === undefined ? undefined : expiresAtMs(p);
      if (p !== undefined && expiresAt !== undefined && nowMs >= expiresAt) {
        this.#resolve(id, "expired");
        this.#release(p, 0n);
      }
    }
  }

  /** Takes a pending transfer's amount off both accounts' pending, posting `postedAmount` of it. */
  #release(p: Transfer, postedAmount: bigint): void {
    const dr = this.#account(p.debit_account_id);
    this.#updateAccount(dr, {
      debits_pending: dr.debits_pending - p.amount,
      debits_posted: dr.debits_posted + postedAmount,
    });
    const cr = this.#account(p.credit_account_id);
    this.#updateAccount(cr, {
      credits_pending: cr.credits_pending - p.amount,
      credits_posted: cr.credits_posted + postedAmount,
    });
  }

  #account(id: bigint): Account {
    const account = this.#accounts.get(id);
    if (account === undefined) throw new Error(`TigerBeetleModel: account ${id} vanished`);
    return account;
  }

  #updateAccount(account: Account, change: Partial<Account>): void {
    const before = { ...account };
    Object.assign(account, change);
    this.#undo?.push(() => Object.assign(account, before));
  }

  #insertTransfer(transfer: Transfer): void {
    this.#transfers.set(transfer.id, transfer);
    this.#undo?.push(() => this.#transfers.delete(transfer.id));
  }

  #resolve(pendingId: bigint, resolution: Resolution): void {
    const before = this.#resolutions.get(pendingId);
    this.#resolutions.set(pendingId, resolution);
    if (resolution === "pending") this.#inFlight.add(pendingId);
    else this.#inFlight.delete(pendingId);
    this.#undo?.push(() => {
      if (before === undefined) this.#resolutions.delete(pendingId);
      else this.#resolutions.set(pendingId, before);
      if (before === "pending") this.#inFlight.add(pendingId);
      else this.#inFlight.delete(pendingId);
    });
  }

  /** Undoes the broken chain's events, newest first; the timestamps they took stay taken. */
  #rollBack(): void {
    const steps = this.#undo ?? [];
    for (let index = steps.length - 1; index >= 0; index -= 1) steps[index]?.();
    this.#undo = [];
  }

  #nextTimestamp(nowMs: number): bigint {
    const clock = BigInt(nowMs) * NS_PER_MS;
    this.#lastTimestamp = clock > this.#lastTimestamp ? clock : this.#lastTimestamp + 1n;
    return this.#lastTimestamp;
  }
}

type Resolution = "pending" | "posted" | "voided" | "expired";

const U128_MAX = amount_max;
const U63_MAX = 2n ** 63n - 1n;
const NS_PER_S = 1_000_000_000n;
const NS_PER_MS = 1_000_000n;
/** The cluster's default batch limit for create_transfers (8189 events of 128 bytes). */
const BATCH_EVENTS_MAX = 8189;
const ACCOUNT_FLAGS_KNOWN = 0b11_1111;
const TRANSFER_FLAGS_KNOWN = 0b1_1111_1111;

/** Failures that depend on the cluster's state at the time: the transfer's id is spent by them. */
const TRANSIENT = new Set<CreateTransferStatus>([
  CreateTransferStatus.debit_account_not_found,
  CreateTransferStatus.credit_account_not_found,
  CreateTransferStatus.pending_transfer_not_found,
  CreateTransferStatus.exceeds_credits,
  CreateTransferStatus.exceeds_debits,
  CreateTransferStatus.debit_account_already_closed,
  CreateTransferStatus.credit_account_already_closed,
]);

/** Checked before anything is applied, so a refused batch leaves no trace. */
function refuseUnmodelled(batch: readonly (Account | Transfer)[], flags: number, what: string): void {
  if (batch.some((event) => (event.flags & flags) !== 0)) {
    throw new Error(`TigerBeetleModel: ${what} are not modelled`);
  }
}

function notModelled<T>(operation: string): Promise<T> {
  return Promise.reject(new Error(`TigerBeetleModel: ${operation} is not modelled`));
}

function has(transfer: Transfer, flag: TransferFlags): boolean {
  return (transfer.flags & flag) !== 0;
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function saturatingSub(a: bigint, b: bigint): bigint {
  return a > b ? a - b : 0n;
}

/** The millisecond a pending transfer's timeout ends in, or undefined when it never times out. */
function expiresAtMs(p: Transfer): number | undefined {
  if (p.timeout === 0) return undefined;
  return Number(p.timestamp / NS_PER_MS) + p.timeout * 1000;
}

function accountExists(a: Account, e: Account): CreateAccountStatus {
  if (a.flags !== e.flags) return CreateAccountStatus.exists_with_different_flags;
  if (a.user_data_128 !== e.user_data_128) return CreateAccountStatus.exists_with_different_user_data_128;
  if (a.user_data_64 !== e.user_data_64) return CreateAccountStatus.exists_with_different_user_data_64;
  if (a.user_data_32 !== e.user_data_32) return CreateAccountStatus.exists_with_different_user_data_32;
  if (a.ledger !== e.ledger) return CreateAccountStatus.exists_with_different_ledger;
  if (a.code !== e.code) return CreateAccountStatus.exists_with_different_code;
  return CreateAccountStatus.exists;
}

/** Fields left zero on a post or void mean "as the pending transfer"; amounts follow the same rules as creation. */
function postOrVoidExists(t: Transfer, e: Transfer, p: Transfer): CreateTransferStatus {
  if (t.debit_account_id !== 0n && t.debit_account_id !== e.debit_account_id) {
    return CreateTransferStatus.exists_with_different_debit_account_id;
  }
  if (t.credit_account_id !== 0n && t.credit_account_id !== e.credit_account_id) {
    return CreateTransferStatus.exists_with_different_credit_account_id;
  }
  if (has(t, TransferFlags.void_pending_transfer)) {
    if (t.amount === 0n ? e.amount !== p.amount : t.amount !== e.amount) {
      return CreateTransferStatus.exists_with_different_amount;
    }
  } else if (t.amount === U128_MAX ? e.amount !== p.amount : t.amount !== e.amount) {
    return CreateTransferStatus.exists_with_different_amount;
  }
  if ((t.user_data_128 === 0n ? p.user_data_128 : t.user_data_128) !== e.user_data_128) {
    return CreateTransferStatus.exists_with_different_user_data_128;
  }
  if ((t.user_data_64 === 0n ? p.user_data_64 : t.user_data_64) !== e.user_data_64) {
    return CreateTransferStatus.exists_with_different_user_data_64;
  }
  if ((t.user_data_32 === 0 ? p.user_data_32 : t.user_data_32) !== e.user_data_32) {
    return CreateTransferStatus.exists_with_different_user_data_32;
  }
  if (t.ledger !== 0 && t.ledger !== e.ledger) return CreateTransferStatus.exists_with_different_ledger;
  if (t.code !== 0 && t.code !== e.code) return CreateTransferStatus.exists_with_different_code;
  return CreateTransferStatus.exists;
}
