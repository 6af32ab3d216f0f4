import { BudgetExceededError, ClientDestroyedError, HoldStateError } from "../errors.ts";
import {
  type AccountBalance,
  type Admit,
  assertTimeoutSeconds,
  assertUsertokens,
  type BudgetAccount,
  type Clock,
  type HoldState,
  type Ledger,
  type LedgerBalance,
  makeBalance,
  type PostResult,
  systemClock,
  type WithinCommit,
} from "./ledger.ts";
import { Recall } from "./recall.ts";

/** Posted or voided holds remembered for replays of their ids; older ones are forgotten. */
const ENDED_HOLDS_REMEMBERED = 1_000;

interface MemoryHold {
  amount: number;
  expiresAtMs: number;
  state: HoldState;
  posted: number;
  shortfall: number;
  lateSettle: boolean;
  /** Budget accounts the hold was placed on, in reserve order. */
  accounts: readonly string[];
}

interface MemoryAccount {
  limit: number;
  posted: number;
}

/**
 * The dry-run ledger: the same semantics as the durable ones, nothing persisted. Memory stays
 * bounded in a long run: a posted or voided hold is remembered (for idempotent replays) among the
 * last ENDED_HOLDS_REMEMBERED only; pending and expired holds, which a late settle may still post,
 * are all kept.
 */
export class MemoryLedger implements Ledger {
  readonly kind = "memory";
  readonly admits = "inside";
  readonly #clock: Clock;
  /** Holds not yet posted or voided (pending or expired). */
  readonly #holds = new Map<string, MemoryHold>();
  readonly #ended = new Recall<string, MemoryHold>(ENDED_HOLDS_REMEMBERED);
  readonly #inFlight = new Set<MemoryHold>();
  readonly #accounts = new Map<string, MemoryAccount>();
  #budget: number;
  #posted = 0;
  #closed = false;

  constructor(options: { budgetUsertokens: number; clock?: Clock }) {
    assertUsertokens("budget", options.budgetUsertokens);
    this.#budget = options.budgetUsertokens;
    this.#clock = options.clock ?? systemClock;
  }

  async setBudget(budgetUsertokens: number): Promise<void> {
    this.#open();
    assertUsertokens("budget", budgetUsertokens);
    this.#budget = budgetUsertokens;
  }

  async reserve(
    holdId: string,
    amountUsertokens: number,
    timeoutSeconds: number,
    accounts: readonly BudgetAccount[] = [],
    admit?: Admit,
  ): Promise<LedgerBalance> {
    this.#open();
    assertUsertokens("hold amount", amountUsertokens);
    assertTimeoutSeconds(timeoutSeconds);
    for (const account of accounts) assertUsertokens(`limit of ${account.id}`, account.limitUsertokens);
    const now = this.#clock();
    if (this.#find(holdId) === undefined) {
      admit?.(this.#balanceAt(now));
      const remaining = this.#budget - this.#posted - this.#pending(now);
      if (remaining < amountUsertokens)
        throw new BudgetExceededError(amountUsertokens, Math.max(0, remaining));
      // Check every account at its new limit before changing any, so a refusal leaves nothing behind.
      for (const { id, limitUsertokens } of accounts) {
        const posted = this.#accounts.get(id)?.posted ?? 0;
        const free = limitUsertokens - posted - this.#accountPending(id, now);
        if (free < amountUsertokens) throw new BudgetExceededError(amountUsertokens, Math.max(0, free), id);
      }
      for (const { id, limitUsertokens } of accounts) {
        const stored = this.#accounts.get(id);
        if (stored === undefined) this.#accounts.set(id, { limit: limitUsertokens, posted: 0 });
        else stored.limit = limitUsertokens;
      }
      const hold: MemoryHold = {
        amount: amountUsertokens,
        expiresAtMs: now + timeoutSeconds * 1000,
        state: "pending",
        posted: 0,
        shortfall: 0,
        lateSettle: false,
        accounts: accounts.map((account) => account.id),
      };
      this.#holds.set(holdId, hold);
      this.#inFlight.add(hold);
    }
    return this.#balanceAt(now);
  }

  async post(holdId: string, amountUsertokens: number, withinCommit?: WithinCommit): Promise<PostResult> {
    this.#open();
    assertUsertokens("post amount", amountUsertokens);
    const now = this.#clock();
    const hold = this.#existing(holdId, now);
    if (hold.state === "voided") throw new HoldStateError(`hold ${holdId} was voided; it cannot be posted`);
    if (hold.state !== "posted") {
      let cap = hold.amount;
      if (hold.state === "expired") {
        hold.lateSettle = true;
        cap = Math.min(cap, Math.max(0, this.#budget - this.#posted - this.#pending(now)));
        for (const id of hold.accounts) cap = Math.min(cap, this.#accountFree(id, now));
      }
      hold.posted = Math.min(amountUsertokens, cap);
      hold.shortfall = amountUsertokens - hold.posted;
      hold.state = "posted";
      this.#end(holdId, hold);
      this.#posted += hold.posted;
      for (const id of hold.accounts) this.#account(id).posted += hold.posted;
    }
    const result: PostResult = {
      postedUsertokens: hold.posted,
      shortfallUsertokens: hold.shortfall,
      lateSettle: hold.lateSettle,
      balance: this.#balanceAt(now),
      accounts: hold.accounts.map((id): AccountBalance => ({ id, balance: this.#accountBalanceAt(id, now) })),
    };
    withinCommit?.(result);
    return result;
  }

  async void(holdId: string, withinCommit?: () => void): Promise<LedgerBalance> {
    this.#open();
    const now = this.#clock();
    const hold = this.#existing(holdId, now);
    if (hold.state === "posted") throw new HoldStateError(`hold ${holdId} was posted; it cannot be voided`);
    hold.state = "voided";
    this.#end(holdId, hold);
    withinCommit?.();
    return this.#balanceAt(now);
  }

  async balance(): Promise<LedgerBalance> {
    this.#open();
    return this.#balanceAt(this.#clock());
  }

  async accountBalance(accountId: string): Promise<LedgerBalance | undefined> {
    this.#open();
    if (!this.#accounts.has(accountId)) return undefined;
    return this.#accountBalanceAt(accountId, this.#clock());
  }

  async holdState(holdId: string): Promise<HoldState | undefined> {
    this.#open();
    const hold = this.#find(holdId);
    if (hold === undefined) return undefined;
    this.#expire(this.#clock());
    return hold.state;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #find(holdId: string): MemoryHold | undefined {
    return this.#holds.get(holdId) ?? this.#ended.get(holdId);
  }

  #end(holdId: string, hold: MemoryHold): void {
    this.#inFlight.delete(hold);
    this.#holds.delete(holdId);
    this.#ended.set(holdId, hold);
  }

  #existing(holdId: string, now: number): MemoryHold {
    const hold = this.#find(holdId);
    if (hold === undefined) throw new HoldStateError(`no hold with id ${holdId} exists in this ledger`);
    this.#expire(now);
    return hold;
  }

  #pending(now: number): number {
    this.#expire(now);
    let sum = 0;
    for (const hold of this.#inFlight) sum += hold.amount;
    return sum;
  }

  #expire(now: number): void {
    for (const hold of this.#inFlight) {
      if (hold.expiresAtMs <= now) {
        hold.state = "expired";
        this.#inFlight.delete(hold);
      }
    }
  }

  #account(id: string): MemoryAccount {
    const account = this.#accounts.get(id);
    if (account === undefined) throw new HoldStateError(`budget account ${id} is missing from this ledger`);
    return account;
  }

  #accountPending(id: string, now: number): number {
    this.#expire(now);
    let sum = 0;
    for (const hold of this.#inFlight) if (hold.accounts.includes(id)) sum += hold.amount;
    return sum;
  }

  #accountFree(id: string, now: number): number {
    const account = this.#account(id);
    return Math.max(0, account.limit - account.posted - this.#accountPending(id, now));
  }

  #accountBalanceAt(id: string, now: number): LedgerBalance {
    const account = this.#account(id);
    return makeBalance(account.limit, account.posted, this.#accountPending(id, now));
  }

  #balanceAt(now: number): LedgerBalance {
    return makeBalance(this.#budget, this.#posted, this.#pending(now));
  }

  #open(): void {
    if (this.#closed) throw new ClientDestroyedError();
  }
}
