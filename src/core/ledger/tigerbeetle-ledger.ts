import { BudgetExceededError, HoldStateError } from "../errors.ts";
import {
  assertTimeoutSeconds,
  assertUsertokens,
  type BudgetAccount,
  type HoldState,
  type Ledger,
  type LedgerBalance,
  type PostResult,
  type WithinCommit,
} from "./ledger.ts";
import { Recall } from "./recall.ts";
import { type BudgetState, budgetAccounts, freeOf, shortBudget } from "./tigerbeetle-budgets.ts";
import {
  type HoldRequest,
  holdChain,
  lateChain,
  lateNonce,
  limitChain,
  placedHold,
  type Settlement,
  settleChain,
} from "./tigerbeetle-chains.ts";
import { TigerBeetleCluster } from "./tigerbeetle-cluster.ts";
import { type FoundHold, findHold, type KnownHold, walletLeg } from "./tigerbeetle-holds.ts";
import { type BudgetIds, TigerBeetleIds } from "./tigerbeetle-ids.ts";
import { assertHoldAccounts, settingsOf, type TigerBeetleLedgerOptions } from "./tigerbeetle-options.ts";
import { BudgetReads } from "./tigerbeetle-reads.ts";
import {
  ACCOUNT_CODE,
  accountOf,
  EXCEEDS_CREDITS,
  firstFailure,
  isExists,
  NS_PER_MS,
  PENDING_TRANSFER_EXPIRED,
  U32_MAX,
} from "./tigerbeetle-wire.ts";

export type { TigerBeetleLedgerOptions } from "./tigerbeetle-options.ts";

/**
 * The ledger on a TigerBeetle cluster (tigerbeetle-node 0.17), shared by every host that points at
 * the same cluster, wallet and ledger number. The cluster enforces the budget itself: each budget is
 * a spendable account with `debits_must_not_exceed_credits`, funded up to its limit, and a hold is
 * a linked chain of pending transfers out of it (tigerbeetle-chains.ts builds every chain; see
 * docs/tigerbeetle.md for the whole mapping).
 *
 * Each call costs as few requests (network round trips) as its guarantees allow. A reserve reads
 * its budgets once, because the sync that brings a spendable account to a changed limit is named
 * by the account's state, then sends one chain. A settle of a hold this process placed sends its
 * chain straight away, and reads only the balances it reports. Everything this process remembers
 * is a fact that cannot change once true, so another host's changes are never missed.
 */
export class TigerBeetleLedger implements Ledger {
  readonly kind = "tigerbeetle";
  readonly #ids: TigerBeetleIds;
  readonly #cluster: TigerBeetleCluster;
  readonly #reads: BudgetReads;
  readonly #initialBudget: number | undefined;
  readonly #clock: () => number;
  /** Budget accounts this process created or met, by their usertrust id. */
  readonly #ensured = new Recall<string, true>(ACCOUNTS_REMEMBERED_MAX);
  /** Usertrust ids of budget accounts by their spendable account, to name them in post results. */
  readonly #names = new Recall<bigint, string>(ACCOUNTS_REMEMBERED_MAX);
  /** Holds this process placed and has not settled yet: a settle needs no lookup to find their legs. */
  readonly #placed = new Recall<string, KnownHold>(HOLDS_REMEMBERED_MAX);
  #readying: Promise<void> | undefined;

  /** Validates the options only; the client, the accounts and the budget are made by the first call. */
  constructor(options: TigerBeetleLedgerOptions) {
    const settings = settingsOf(options);
    this.#ids = new TigerBeetleIds(settings.ledger, settings.walletId);
    this.#cluster = new TigerBeetleCluster(settings);
    this.#reads = new BudgetReads(this.#cluster);
    this.#initialBudget = settings.initialBudget;
    this.#clock = settings.clock;
  }

  async setBudget(budgetUsertokens: number): Promise<void> {
    this.#cluster.assertOpen();
    assertUsertokens("budget", budgetUsertokens);
    await this.#ready();
    await this.#setWalletBudget(BigInt(budgetUsertokens));
  }

  async reserve(
    holdId: string,
    amountUsertokens: number,
    timeoutSeconds: number,
    accounts: readonly BudgetAccount[] = [],
  ): Promise<LedgerBalance> {
    this.#cluster.assertOpen();
    assertUsertokens("hold amount", amountUsertokens);
    assertTimeoutSeconds(timeoutSeconds);
    assertHoldAccounts(accounts);
    await this.#ready();
    await this.#ensure(accounts);
    const hold: HoldRequest = {
      holdId,
      amount: BigInt(amountUsertokens),
      timeoutSeconds: Math.min(U32_MAX, Math.ceil(timeoutSeconds)),
      budgets: [this.#ids.wallet, ...accounts.map((account) => this.#accountIds(account.id))],
    };
    for (let round = 0; round < CHAIN_ROUNDS_MAX; round += 1) {
      const { wallet, states } = await this.#reads.present(hold.budgets);
      const changes = limitChanges(accounts, hold.budgets, states);
      if (changes.length > 0) {
        // A retried reserve changes nothing, not even a limit: the first one stands.
        if (await this.#holdExists(holdId)) return this.#reads.balanceOf(wallet);
        await this.#setLimits(changes);
        continue;
      }
      // Decided on the numbers this round already read: the common path gains no request, and the
      // cluster still checks every hold it grants atomically. A retried reserve sees its own hold in
      // those numbers, so before refusing it must find out whether the hold is already placed.
      const short = shortBudget(states, hold.amount);
      if (short !== undefined) {
        if (await this.#holdExists(holdId)) return this.#reads.balanceOf(wallet);
        throw this.#refusalFrom(amountUsertokens, states[short], accounts[short - 1]?.id);
      }
      const chain = holdChain(this.#ids, hold, states);
      const results = await this.#cluster.createTransfers(chain.events, "hold");
      const failure = firstFailure(results);
      if (failure === undefined) {
        const placed = placedHold(hold, chain, results);
        if (placed !== undefined)
          this.#placed.set(holdId, { ...placed, accountIds: accounts.map(({ id }) => id) });
        // The wallet as read just before, with this hold: no second read for numbers we already have.
        return this.#reads.balanceOf({ ...wallet, pending: wallet.pending + hold.amount });
      }
      const role = chain.roles[failure.index];
      if (role?.kind === "marker" && isExists(failure.status)) return this.#reads.balanceOf(wallet);
      if (role?.kind === "sync" && isExists(failure.status)) continue;
      if (role?.kind === "leg" && failure.status === EXCEEDS_CREDITS) {
        const refusing = hold.budgets[role.budget] ?? this.#ids.wallet;
        throw await this.#refusal(amountUsertokens, refusing, accounts[role.budget - 1]?.id);
      }
      throw this.#cluster.unexpected(`the hold ${holdId}`, failure.status);
    }
    throw this.#cluster.contended("reserve", holdId, CHAIN_ROUNDS_MAX);
  }

  async post(holdId: string, amountUsertokens: number, withinCommit?: WithinCommit): Promise<PostResult> {
    this.#cluster.assertOpen();
    assertUsertokens("post amount", amountUsertokens);
    await this.#ready();
    const cost = BigInt(amountUsertokens);
    let expired = false;
    for (let round = 0; round < CHAIN_ROUNDS_MAX; round += 1) {
      const hold = await this.#holdToSettle(holdId, round);
      if (hold === undefined) throw missingHold(holdId);
      let settled = hold.settlement;
      if (settled === undefined && !expired) {
        const held = walletLeg(this.#cluster, hold).amount;
        const posted = cost < held ? cost : held;
        const outcome = await this.#settle(hold, { kind: "post", cost, posted, lateNonce: 0n });
        if (outcome === "raced") continue;
        if (outcome === "expired") expired = true;
        else settled = outcome;
      }
      if (settled === undefined) {
        const late = await this.#settleLate(hold, cost);
        if (late === "raced") continue;
        settled = late;
      }
      this.#placed.delete(holdId);
      if (settled.kind === "void") throw new HoldStateError(`hold ${holdId} was voided; it cannot be posted`);
      const result = await this.#postResult(hold, settled);
      withinCommit?.(result);
      return result;
    }
    throw this.#cluster.contended("post", holdId, CHAIN_ROUNDS_MAX);
  }

  async void(holdId: string, withinCommit?: () => void): Promise<LedgerBalance> {
    this.#cluster.assertOpen();
    await this.#ready();
    for (let round = 0; round < CHAIN_ROUNDS_MAX; round += 1) {
      const hold = await this.#holdToSettle(holdId, round);
      if (hold === undefined) throw missingHold(holdId);
      let settled = hold.settlement;
      if (settled === undefined) {
        const voiding: Settlement = { kind: "void", cost: 0n, posted: 0n, lateNonce: 0n };
        let outcome = await this.#settle(hold, voiding);
        // An expired hold has nothing left to release: the void is only recorded, so it reads voided.
        if (outcome === "expired") outcome = await this.#settle(hold, voiding, { recordOnly: true });
        if (outcome === "raced" || outcome === "expired") continue;
        settled = outcome;
      }
      this.#placed.delete(holdId);
      if (settled.kind !== "void") throw new HoldStateError(`hold ${holdId} was posted; it cannot be voided`);
      const balance = await this.#walletBalance();
      withinCommit?.();
      return balance;
    }
    throw this.#cluster.contended("void", holdId, CHAIN_ROUNDS_MAX);
  }

  async balance(): Promise<LedgerBalance> {
    this.#cluster.assertOpen();
    await this.#ready();
    return this.#walletBalance();
  }

  async accountBalance(accountId: string): Promise<LedgerBalance | undefined> {
    this.#cluster.assertOpen();
    await this.#ready();
    const [state] = await this.#reads.read([this.#accountIds(accountId)]);
    return state === undefined ? undefined : this.#reads.balanceOf(state);
  }

  async holdState(holdId: string): Promise<HoldState | undefined> {
    this.#cluster.assertOpen();
    await this.#ready();
    const hold = await this.#findHold(holdId);
    if (hold === undefined) return undefined;
    if (hold.settlement !== undefined) return hold.settlement.kind === "void" ? "voided" : "posted";
    const leg = walletLeg(this.#cluster, hold);
    // Judged by this host's clock against the cluster's timestamp; see the clock option.
    const expiresAtMs = Number(leg.timestamp / NS_PER_MS) + leg.timeout * 1000;
    return this.#clock() >= expiresAtMs ? "expired" : "pending";
  }

  close(): Promise<void> {
    return this.#cluster.close();
  }

  /**
   * The hold a settle works on. First try on a hold this process placed: as placed, assumed
   * unsettled, so the settle's own chain is the only request (its marker tells if another got
   * there first). Otherwise, and on later tries, what the cluster holds.
   */
  async #holdToSettle(holdId: string, round: number): Promise<FoundHold | undefined> {
    const known = round === 0 ? this.#placed.get(holdId) : undefined;
    return known === undefined ? this.#findHold(holdId) : { ...known, settlement: undefined };
  }

  /** Posts or voids every leg. "raced": another settle got there first; "expired": the hold timed out. */
  async #settle(
    hold: FoundHold,
    settlement: Settlement,
    options: { recordOnly?: boolean } = {},
  ): Promise<Settlement | "raced" | "expired"> {
    const events = settleChain(this.#ids, hold, settlement, options);
    const failure = firstFailure(await this.#cluster.createTransfers(events, settlement.kind));
    if (failure === undefined) return settlement;
    if (failure.index === 0 && isExists(failure.status)) return "raced";
    if (failure.status === PENDING_TRANSFER_EXPIRED) return "expired";
    throw this.#cluster.unexpected(`the ${settlement.kind} of hold ${hold.holdId}`, failure.status);
  }

  /**
   * A post after the hold expired takes what every budget of the hold still has free, up to the
   * hold, read just before; should others take the room first, the chain changes nothing and the
   * caller reads again.
   */
  async #settleLate(hold: FoundHold, cost: bigint): Promise<Settlement | "raced"> {
    const { states } = await this.#reads.present(hold.budgets);
    const held = walletLeg(this.#cluster, hold).amount;
    let posted = cost < held ? cost : held;
    for (const state of states) {
      const free = freeOf(state);
      if (free < posted) posted = free;
    }
    const settlement: Settlement = { kind: "late", cost, posted, lateNonce: lateNonce() };
    const events = lateChain(this.#ids, hold, settlement, states);
    const failure = firstFailure(await this.#cluster.createTransfers(events, "late settle"));
    if (failure === undefined) return settlement;
    if (isExists(failure.status) || failure.status === EXCEEDS_CREDITS) return "raced";
    throw this.#cluster.unexpected(`the late settle of hold ${hold.holdId}`, failure.status);
  }

  /** The numbers after the post: every budget of the hold from one lookup. */
  async #postResult(hold: FoundHold, settled: Settlement): Promise<PostResult> {
    const { wallet, states } = await this.#reads.present(hold.budgets);
    return {
      postedUsertokens: this.#reads.usertokens(settled.posted, "posted amount"),
      shortfallUsertokens: this.#reads.usertokens(settled.cost - settled.posted, "shortfall"),
      lateSettle: settled.kind === "late",
      balance: this.#reads.balanceOf(wallet),
      accounts: states.slice(1).map((state, index) => ({
        id: hold.accountIds[index] ?? `tigerbeetle:${hold.budgets[index + 1]?.spendable.toString(16)}`,
        balance: this.#reads.balanceOf(state),
      })),
    };
  }

  #findHold(holdId: string): Promise<FoundHold | undefined> {
    return findHold(this.#cluster, this.#ids, holdId, {
      known: this.#placed.get(holdId),
      nameOf: (spendable) => this.#names.get(spendable) ?? `tigerbeetle:${spendable.toString(16)}`,
    });
  }

  async #holdExists(holdId: string): Promise<boolean> {
    const markerId = this.#ids.holdMarker(holdId);
    return (await this.#cluster.lookupTransfers([markerId])).has(markerId);
  }

  async #refusal(
    needed: number,
    ids: BudgetIds,
    accountId: string | undefined,
  ): Promise<BudgetExceededError> {
    const [state] = await this.#reads.read([ids]);
    return this.#refusalFrom(needed, state, accountId);
  }

  #refusalFrom(
    needed: number,
    state: BudgetState | undefined,
    accountId: string | undefined,
  ): BudgetExceededError {
    const remaining = state === undefined ? 0 : this.#reads.usertokens(freeOf(state), "remaining budget");
    return new BudgetExceededError(needed, remaining, accountId);
  }

  /** The wallet's accounts exist and, when the options say so, its budget is set: once per ledger. */
  #ready(): Promise<void> {
    this.#readying ??= this.#prepare().catch((error: unknown) => {
      this.#readying = undefined;
      throw error;
    });
    return this.#readying;
  }

  async #prepare(): Promise<void> {
    await this.#cluster.createAccounts([
      accountOf(this.#ids.operator, this.#ids.ledger, ACCOUNT_CODE.operator, 0),
      ...budgetAccounts(this.#ids.wallet, this.#ids.ledger),
    ]);
    if (this.#initialBudget !== undefined) await this.#setWalletBudget(BigInt(this.#initialBudget));
  }

  async #ensure(accounts: readonly BudgetAccount[]): Promise<void> {
    const missing = accounts.filter((account) => !this.#ensured.has(account.id));
    if (missing.length === 0) return;
    await this.#cluster.createAccounts(
      missing.flatMap((account) => budgetAccounts(this.#accountIds(account.id), this.#ids.ledger)),
    );
    for (const account of missing) this.#ensured.set(account.id, true);
  }

  async #setWalletBudget(budget: bigint): Promise<void> {
    const { wallet } = await this.#reads.present([this.#ids.wallet]);
    if (wallet.limit !== budget) await this.#setLimits([{ budget: this.#ids.wallet, limit: budget }]);
  }

  async #setLimits(changes: readonly { budget: BudgetIds; limit: bigint }[]): Promise<void> {
    const events = limitChain(this.#ids, changes);
    const failure = firstFailure(await this.#cluster.createTransfers(events, "budget change"));
    if (failure !== undefined) throw this.#cluster.unexpected("a budget change", failure.status);
  }

  async #walletBalance(): Promise<LedgerBalance> {
    const { wallet } = await this.#reads.present([this.#ids.wallet]);
    return this.#reads.balanceOf(wallet);
  }

  #accountIds(accountId: string): BudgetIds {
    const ids = this.#ids.account(accountId);
    this.#names.set(ids.spendable, accountId);
    return ids;
  }
}

/** Rounds a call reads and retries when a concurrent call changed the same budgets first. */
const CHAIN_ROUNDS_MAX = 8;
/** Bounds what a process remembers; past it the oldest is forgotten and costs a lookup when next used. */
const HOLDS_REMEMBERED_MAX = 10_000;
const ACCOUNTS_REMEMBERED_MAX = 10_000;

/** The budget accounts whose limit differs from the one this reserve names: set before the hold. */
function limitChanges(
  accounts: readonly BudgetAccount[],
  budgets: readonly BudgetIds[],
  states: readonly BudgetState[],
): { budget: BudgetIds; limit: bigint }[] {
  return accounts.flatMap((account, index) => {
    const budget = budgets[index + 1];
    const limit = BigInt(account.limitUsertokens);
    return budget === undefined || states[index + 1]?.limit === limit ? [] : [{ budget, limit }];
  });
}

function missingHold(holdId: string): HoldStateError {
  return new HoldStateError(`no hold with id ${holdId} exists in this ledger`);
}
