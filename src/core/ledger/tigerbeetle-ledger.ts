import { createHash, randomBytes } from "node:crypto";
import type {
  Account,
  AccountFlags,
  Client,
  CreateAccountStatus,
  CreateTransferResult,
  CreateTransferStatus,
  Transfer,
  TransferFlags,
} from "tigerbeetle-node";
import {
  BudgetExceededError,
  ClientDestroyedError,
  HoldStateError,
  LedgerUnavailableError,
  UsertrustError,
} from "../errors.ts";
import {
  type AccountBalance,
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

export interface TigerBeetleLedgerOptions {
  /** The replicas' addresses, e.g. ["3000"] or ["10.0.0.1:3000", "10.0.0.2:3000", "10.0.0.3:3000"]. */
  addresses: readonly string[];
  /** The id the cluster was formatted with (`tigerbeetle format --cluster=…`). */
  clusterId: number | bigint;
  /** The budget this ledger draws on; every ledger on the cluster with the same walletId shares it. Default "default". */
  walletId?: string;
  /** The TigerBeetle ledger number usertrust's accounts and transfers live on. Default 1. */
  ledger?: number;
  /** Sets the wallet's budget on first use; without it the budget stored on the cluster is kept. */
  budgetUsertokens?: number;
  /**
   * A client to use instead of creating one, e.g. the in-repo model in tests. Its owner keeps it:
   * close() leaves an injected client open (other ledgers may share it) and destroys only a client
   * this ledger created.
   */
  client?: Client;
  /** A request without an answer within this bound fails with LedgerUnavailableError. Default 5000. */
  requestTimeoutMs?: number;
  /**
   * Judges, for holdState, whether a pending hold's timeout has passed. The cluster's own clock
   * decides everything that moves money; this only answers the question between two requests.
   */
  clock?: Clock;
}

/**
 * The ledger on a TigerBeetle cluster (tigerbeetle-node 0.17), shared by every host that points at
 * the same cluster, wallet and ledger number. The cluster enforces the budget itself; see
 * docs/tigerbeetle.md for the accounts and transfers a hold becomes.
 *
 * Each budget (the wallet, and every scoped budget account) is three TigerBeetle accounts:
 * - spendable, with `debits_must_not_exceed_credits`: holds are pending transfers out of it, so
 *   the cluster refuses a hold that does not fit (`exceeds_credits`). It is funded from an
 *   operator account up to the budget, and gives back by `balancing_debit` when the budget falls;
 * - spent: where holds go; its posted credits are the spend;
 * - limit: its net balance is the budget as configured, set absolutely, so a budget lowered
 *   below what was already spent is reported as set.
 * Before every hold the spendable account is brought to the limit by a sync transfer whose id is
 * derived from the account's funding state, so two hosts can never both apply a sync computed
 * from the same state: the id acts as a compare-and-swap.
 *
 * A hold is one linked chain, all or nothing: a zero-amount marker (deterministic id from the hold
 * id, carrying a random attempt nonce), the syncs, then one pending transfer per budget. A refused
 * hold spends only ids derived from its nonce (TigerBeetle never reuses an id that failed with
 * `exceeds_credits`), so the same hold id can be reserved later; a retried reserve meets the
 * marker and changes nothing. Settling is another chain led by a deterministic settle marker
 * that records the cost and the amount posted, so post, void and late settle exclude each other
 * and a retry returns the first answer.
 *
 * `tigerbeetle-node` is loaded on first use, and only when no client is injected.
 */
export class TigerBeetleLedger implements Ledger {
  readonly kind = "tigerbeetle";
  readonly #addresses: readonly string[];
  readonly #clusterId: bigint;
  readonly #walletId: string;
  readonly #ledger: number;
  readonly #initialBudget: number | undefined;
  readonly #injected: Client | undefined;
  readonly #requestTimeoutMs: number;
  readonly #clock: Clock;
  readonly #operator: bigint;
  readonly #wallet: BudgetIds;
  /** Budget accounts this ledger has created or met, by their usertrust id. */
  readonly #ensured = new Set<string>();
  /** Usertrust ids of budget accounts by their spendable account, to name them in post results. */
  readonly #names = new Map<bigint, string>();
  #connecting: Promise<Client> | undefined;
  #readying: Promise<void> | undefined;
  #closed = false;

  /** Validates the options only; the client, the accounts and the budget are made by the first call. */
  constructor(options: TigerBeetleLedgerOptions) {
    if (options.budgetUsertokens !== undefined) assertUsertokens("budget", options.budgetUsertokens);
    if (options.addresses.length === 0 || options.addresses.some((address) => address.trim() === "")) {
      throw new RangeError('TigerBeetle addresses must name at least one replica, e.g. ["3000"]');
    }
    const clusterId = clusterIdOf(options.clusterId);
    const walletId = options.walletId ?? "default";
    if (walletId.length === 0 || walletId.length > ID_LENGTH_MAX) {
      throw new RangeError(`walletId must be 1–${ID_LENGTH_MAX} characters, got ${walletId.length}`);
    }
    const ledger = options.ledger ?? 1;
    if (!Number.isInteger(ledger) || ledger < 1 || ledger > U32_MAX) {
      throw new RangeError(`ledger must be a whole number from 1 to ${U32_MAX}, got ${ledger}`);
    }
    const requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
    if (
      !Number.isInteger(requestTimeoutMs) ||
      requestTimeoutMs < 1 ||
      requestTimeoutMs > REQUEST_TIMEOUT_MS_MAX
    ) {
      throw new RangeError(
        `requestTimeoutMs must be a whole number of milliseconds from 1 to ${REQUEST_TIMEOUT_MS_MAX}, got ${requestTimeoutMs}`,
      );
    }
    this.#addresses = [...options.addresses];
    this.#clusterId = clusterId;
    this.#walletId = walletId;
    this.#ledger = ledger;
    this.#initialBudget = options.budgetUsertokens;
    this.#injected = options.client;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#clock = options.clock ?? systemClock;
    this.#operator = this.#id("operator");
    this.#wallet = this.#budgetIds("wallet");
  }

  async setBudget(budgetUsertokens: number): Promise<void> {
    this.#open();
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
    this.#open();
    assertUsertokens("hold amount", amountUsertokens);
    assertTimeoutSeconds(timeoutSeconds);
    assertHoldAccounts(accounts);
    await this.#ready();
    await this.#ensure(accounts);
    const budgets = [this.#wallet, ...accounts.map((account) => this.#accountIds(account.id))];
    const markerId = this.#id("hold", holdId);
    const hold: HoldRequest = {
      holdId,
      markerId,
      amount: BigInt(amountUsertokens),
      timeoutSeconds: Math.min(U32_MAX, Math.ceil(timeoutSeconds)),
      budgets,
    };

    for (let round = 0; round < CHAIN_ROUNDS_MAX; round += 1) {
      const [marker, states] = await Promise.all([this.#lookupTransfer(markerId), this.#read(budgets)]);
      const wallet = this.#present(states[0], "wallet");
      // A retried reserve: the first one stands, whatever this one asks for.
      if (marker !== undefined) return this.#balanceOf(wallet);

      const limitChanges = accounts.flatMap((account, index) => {
        const ids = budgets[index + 1];
        const state = states[index + 1];
        const limit = BigInt(account.limitUsertokens);
        return ids === undefined || state?.limit === limit ? [] : [{ ids, limit }];
      });
      if (limitChanges.length > 0) {
        await this.#setLimits(limitChanges);
        continue;
      }

      const chain = this.#holdChain(
        hold,
        budgets.map((ids, index) => this.#present(states[index], ids)),
      );
      const failure = firstFailure(await this.#createTransfers(chain.events, "hold"));
      if (failure === undefined) return this.#walletBalance();
      const role = chain.roles[failure.index];
      if (role?.kind === "marker" && isExists(failure.status)) return this.#walletBalance();
      if (role?.kind === "sync" && isExists(failure.status)) continue;
      if (role?.kind === "leg" && failure.status === EXCEEDS_CREDITS) {
        const refusing = budgets[role.budget] ?? this.#wallet;
        throw await this.#refusal(amountUsertokens, refusing, accounts[role.budget - 1]?.id);
      }
      throw this.#unexpected(`the hold ${holdId}`, failure.status);
    }
    throw this.#contended("reserve", holdId);
  }

  async post(holdId: string, amountUsertokens: number, withinCommit?: WithinCommit): Promise<PostResult> {
    this.#open();
    assertUsertokens("post amount", amountUsertokens);
    await this.#ready();
    const cost = BigInt(amountUsertokens);
    let expired = false;
    for (let round = 0; round < CHAIN_ROUNDS_MAX; round += 1) {
      const hold = await this.#findHold(holdId);
      if (hold === undefined) throw missingHold(holdId);
      let settled = hold.settlement;
      if (settled === undefined && !expired) {
        const held = this.#walletLeg(hold).amount;
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
      if (settled.kind === "void") throw new HoldStateError(`hold ${holdId} was voided; it cannot be posted`);
      const result = await this.#postResult(hold, settled);
      withinCommit?.(result);
      return result;
    }
    throw this.#contended("post", holdId);
  }

  async void(holdId: string, withinCommit?: () => void): Promise<LedgerBalance> {
    this.#open();
    await this.#ready();
    for (let round = 0; round < CHAIN_ROUNDS_MAX; round += 1) {
      const hold = await this.#findHold(holdId);
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
      if (settled.kind !== "void") throw new HoldStateError(`hold ${holdId} was posted; it cannot be voided`);
      const balance = await this.#walletBalance();
      withinCommit?.();
      return balance;
    }
    throw this.#contended("void", holdId);
  }

  async balance(): Promise<LedgerBalance> {
    this.#open();
    await this.#ready();
    return this.#walletBalance();
  }

  async accountBalance(accountId: string): Promise<LedgerBalance | undefined> {
    this.#open();
    await this.#ready();
    const [state] = await this.#read([this.#accountIds(accountId)]);
    return state === undefined ? undefined : this.#balanceOf(state);
  }

  async holdState(holdId: string): Promise<HoldState | undefined> {
    this.#open();
    await this.#ready();
    const hold = await this.#findHold(holdId);
    if (hold === undefined) return undefined;
    if (hold.settlement !== undefined) return hold.settlement.kind === "void" ? "voided" : "posted";
    const leg = this.#walletLeg(hold);
    // Judged by this host's clock against the cluster's timestamp; see the clock option.
    const expiresAtMs = Number(leg.timestamp / NS_PER_MS) + leg.timeout * 1000;
    return this.#clock() >= expiresAtMs ? "expired" : "pending";
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const connecting = this.#connecting;
    this.#connecting = undefined;
    const client = await connecting?.catch(() => undefined);
    client?.destroy();
  }

  /** The chain of a new hold: marker, syncs, then one pending transfer per budget, wallet first. */
  #holdChain(hold: HoldRequest, states: readonly BudgetState[]): Chain {
    const nonce = randomId();
    const events: Transfer[] = [
      transferOf({
        id: hold.markerId,
        debit_account_id: this.#operator,
        credit_account_id: this.#wallet.spent,
        user_data_128: nonce,
        user_data_64: BigInt(hold.timeoutSeconds),
        user_data_32: hold.budgets.length - 1,
        ledger: this.#ledger,
        code: TRANSFER_CODE.holdMarker,
      }),
    ];
    const roles: ChainRole[] = [{ kind: "marker" }];
    for (const [index, ids] of hold.budgets.entries()) {
      const state = states[index];
      if (state === undefined) continue;
      for (const sync of this.#syncs(ids, state)) {
        events.push(sync);
        roles.push({ kind: "sync" });
      }
    }
    for (const [index, ids] of hold.budgets.entries()) {
      events.push(
        transferOf({
          id: this.#id("hold-leg", hold.holdId, nonce, index),
          debit_account_id: ids.spendable,
          credit_account_id: ids.spent,
          amount: hold.amount,
          // The leg names its budget's limit account, so a post finds every number it reports.
          user_data_128: ids.limit,
          timeout: hold.timeoutSeconds,
          ledger: this.#ledger,
          code: TRANSFER_CODE.hold,
          flags: PENDING,
        }),
      );
      roles.push({ kind: "leg", budget: index });
    }
    return { events: linked(events), roles };
  }

  /**
   * Brings a budget's spendable account to its limit: funds the difference, or gives back what is
   * free of the excess. The first transfer's id is derived from the account's funding state
   * (credits and give-backs so far, which only a sync changes), so of all syncs computed from one
   * state at most one is ever applied. A give-back leads with a one-unit funding so that even a
   * give-back that finds nothing free moves the state on, and the next sync gets a fresh id.
   */
  #syncs(ids: BudgetIds, state: BudgetState): Transfer[] {
    const ceiling = state.funded - state.returned;
    if (ceiling === state.limit) return [];
    const syncId = this.#id("sync", ids.spendable, state.funded, state.returned);
    const fund = (amount: bigint): Transfer =>
      transferOf({
        id: syncId,
        debit_account_id: this.#operator,
        credit_account_id: ids.spendable,
        amount,
        ledger: this.#ledger,
        code: TRANSFER_CODE.sync,
      });
    if (ceiling < state.limit) return [fund(state.limit - ceiling)];
    return [
      fund(1n),
      transferOf({
        id: this.#id("sync-return", ids.spendable, state.funded, state.returned),
        debit_account_id: ids.spendable,
        credit_account_id: this.#operator,
        amount: ceiling - state.limit + 1n,
        ledger: this.#ledger,
        code: TRANSFER_CODE.sync,
        flags: BALANCING_DEBIT,
      }),
    ];
  }

  /**
   * Posts, voids, or (recordOnly) just records a void, as one chain led by the settle marker.
   * "raced": another settle got there first; "expired": the cluster says the hold timed out.
   */
  async #settle(
    hold: FoundHold,
    settlement: Settlement,
    options: { recordOnly?: boolean } = {},
  ): Promise<Settlement | "raced" | "expired"> {
    const nonce = hold.marker.user_data_128;
    const legs =
      options.recordOnly === true
        ? []
        : hold.legs.map((leg, index) =>
            transferOf({
              id: this.#id(`${settlement.kind}-leg`, hold.holdId, nonce, index),
              pending_id: leg.id,
              amount: settlement.kind === "void" ? 0n : settlement.posted,
              flags: settlement.kind === "void" ? VOID_PENDING : POST_PENDING,
            }),
          );
    const events = linked([this.#settleMarker(hold.holdId, settlement), ...legs]);
    const failure = firstFailure(await this.#createTransfers(events, settlement.kind));
    if (failure === undefined) return settlement;
    if (failure.index === 0 && isExists(failure.status)) return "raced";
    if (failure.status === PENDING_TRANSFER_EXPIRED) return "expired";
    throw this.#unexpected(`the ${settlement.kind} of hold ${hold.holdId}`, failure.status);
  }

  /**
   * A post after the hold expired takes what every budget of the hold still has free, up to the
   * hold: the same amount on each, as posted transfers in one chain with the syncs. The amount is
   * read just before; should others take the room first, a transfer fails with exceeds_credits, the
   * chain changes nothing, and the caller reads again.
   */
  async #settleLate(hold: FoundHold, cost: bigint): Promise<Settlement | "raced"> {
    const states = (await this.#read(hold.budgets)).map((state, index) =>
      this.#present(state, hold.budgets[index] ?? this.#wallet),
    );
    const held = this.#walletLeg(hold).amount;
    let posted = cost < held ? cost : held;
    for (const state of states) {
      const free = freeOf(state);
      if (free < posted) posted = free;
    }
    const settlement: Settlement = { kind: "late", cost, posted, lateNonce: randomId() & U64_MAX };
    const events = [this.#settleMarker(hold.holdId, settlement)];
    for (const [index, ids] of hold.budgets.entries()) {
      const state = states[index];
      if (state !== undefined) events.push(...this.#syncs(ids, state));
    }
    for (const [index, ids] of hold.budgets.entries()) {
      events.push(
        transferOf({
          id: this.#id("late-leg", hold.holdId, settlement.lateNonce, index),
          debit_account_id: ids.spendable,
          credit_account_id: ids.spent,
          amount: posted,
          ledger: this.#ledger,
          code: TRANSFER_CODE.late,
        }),
      );
    }
    const failure = firstFailure(await this.#createTransfers(linked(events), "late settle"));
    if (failure === undefined) return settlement;
    if (isExists(failure.status) || failure.status === EXCEEDS_CREDITS) return "raced";
    throw this.#unexpected(`the late settle of hold ${hold.holdId}`, failure.status);
  }

  /** Zero-amount: it moves nothing and records the first settle's kind, cost and amount posted. */
  #settleMarker(holdId: string, settlement: Settlement): Transfer {
    return transferOf({
      id: this.#id("settle", holdId),
      debit_account_id: this.#operator,
      credit_account_id: this.#wallet.spent,
      user_data_128: (settlement.lateNonce << 64n) | settlement.posted,
      user_data_64: settlement.cost,
      user_data_32: SETTLEMENT_KINDS.indexOf(settlement.kind) + 1,
      ledger: this.#ledger,
      code: TRANSFER_CODE.settleMarker,
    });
  }

  async #postResult(hold: FoundHold, settled: Settlement): Promise<PostResult> {
    const states = await this.#read(hold.budgets);
    const accounts = hold.budgets.slice(1).map(
      (ids, index): AccountBalance => ({
        id: this.#names.get(ids.spendable) ?? `tigerbeetle:${ids.spendable.toString(16)}`,
        balance: this.#balanceOf(this.#present(states[index + 1], ids)),
      }),
    );
    return {
      postedUsertokens: this.#usertokens(settled.posted, "posted amount"),
      shortfallUsertokens: this.#usertokens(settled.cost - settled.posted, "shortfall"),
      lateSettle: settled.kind === "late",
      balance: this.#balanceOf(this.#present(states[0], this.#wallet)),
      accounts,
    };
  }

  async #findHold(holdId: string): Promise<FoundHold | undefined> {
    const markerId = this.#id("hold", holdId);
    const settleId = this.#id("settle", holdId);
    const found = await this.#lookupTransfers([markerId, settleId]);
    const marker = found.get(markerId);
    if (marker === undefined) return undefined;
    const legIds = Array.from({ length: marker.user_data_32 + 1 }, (_, index) =>
      this.#id("hold-leg", holdId, marker.user_data_128, index),
    );
    const legsById = await this.#lookupTransfers(legIds);
    const legs = legIds.map((id) => {
      const leg = legsById.get(id);
      if (leg === undefined)
        throw this.#inconsistent(`hold ${holdId} has a marker but not all its pending transfers`);
      return leg;
    });
    const settle = found.get(settleId);
    return {
      holdId,
      marker,
      legs,
      budgets: legs.map((leg) => ({
        spendable: leg.debit_account_id,
        spent: leg.credit_account_id,
        limit: leg.user_data_128,
      })),
      settlement: settle === undefined ? undefined : this.#settlementOf(holdId, settle),
    };
  }

  #settlementOf(holdId: string, marker: Transfer): Settlement {
    const kind = SETTLEMENT_KINDS[marker.user_data_32 - 1];
    if (kind === undefined)
      throw this.#inconsistent(`the settle marker of hold ${holdId} names no known settle`);
    return { kind, cost: marker.user_data_64, posted: marker.user_data_128 & U64_MAX, lateNonce: 0n };
  }

  #walletLeg(hold: FoundHold): Transfer {
    const leg = hold.legs[0];
    if (leg === undefined)
      throw this.#inconsistent(`hold ${hold.holdId} has no pending transfer on the wallet`);
    return leg;
  }

  async #refusal(
    needed: number,
    ids: BudgetIds,
    accountId: string | undefined,
  ): Promise<BudgetExceededError> {
    const [state] = await this.#read([ids]);
    const remaining = state === undefined ? 0 : this.#usertokens(freeOf(state), "remaining budget");
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
    await this.#createAccounts([
      accountOf(this.#operator, this.#ledger, ACCOUNT_CODE.operator, 0),
      ...this.#budgetAccounts(this.#wallet),
    ]);
    if (this.#initialBudget !== undefined) await this.#setWalletBudget(BigInt(this.#initialBudget));
  }

  async #ensure(accounts: readonly BudgetAccount[]): Promise<void> {
    const missing = accounts.filter((account) => !this.#ensured.has(account.id));
    if (missing.length === 0) return;
    await this.#createAccounts(
      missing.flatMap((account) => this.#budgetAccounts(this.#accountIds(account.id))),
    );
    for (const account of missing) this.#ensured.add(account.id);
  }

  #budgetAccounts(ids: BudgetIds): Account[] {
    return [
      accountOf(ids.spendable, this.#ledger, ACCOUNT_CODE.spendable, DEBITS_MUST_NOT_EXCEED_CREDITS),
      accountOf(ids.spent, this.#ledger, ACCOUNT_CODE.spent, 0),
      accountOf(ids.limit, this.#ledger, ACCOUNT_CODE.limit, 0),
    ];
  }

  async #setWalletBudget(budget: bigint): Promise<void> {
    const [state] = await this.#read([this.#wallet]);
    if (this.#present(state, this.#wallet).limit !== budget)
      await this.#setLimits([{ ids: this.#wallet, limit: budget }]);
  }

  /**
   * Sets limits absolutely: each limit account gives back all it has, then receives the new limit,
   * in one chain. Racing setters leave the last one's limit, never a sum of both.
   */
  async #setLimits(changes: readonly { ids: BudgetIds; limit: bigint }[]): Promise<void> {
    const events = changes.flatMap(({ ids, limit }) =>
      linked([
        transferOf({
          id: randomId(),
          debit_account_id: ids.limit,
          credit_account_id: this.#operator,
          amount: U128_MAX,
          ledger: this.#ledger,
          code: TRANSFER_CODE.limit,
          flags: BALANCING_DEBIT,
        }),
        transferOf({
          id: randomId(),
          debit_account_id: this.#operator,
          credit_account_id: ids.limit,
          amount: limit,
          ledger: this.#ledger,
          code: TRANSFER_CODE.limit,
        }),
      ]),
    );
    const failure = firstFailure(await this.#createTransfers(events, "budget change"));
    if (failure !== undefined) throw this.#unexpected("a budget change", failure.status);
  }

  async #walletBalance(): Promise<LedgerBalance> {
    const [state] = await this.#read([this.#wallet]);
    return this.#balanceOf(this.#present(state, this.#wallet));
  }

  /** Every budget's numbers from one lookup, so they are consistent with each other. */
  async #read(budgets: readonly BudgetIds[]): Promise<(BudgetState | undefined)[]> {
    const ids = budgets.flatMap((budget) => [budget.spendable, budget.spent, budget.limit]);
    const found = await this.#request("lookup of accounts", (client) => client.lookupAccounts(ids));
    const byId = new Map(found.map((account) => [account.id, account]));
    return budgets.map((budget) => {
      const spendable = byId.get(budget.spendable);
      const spent = byId.get(budget.spent);
      const limit = byId.get(budget.limit);
      if (spendable === undefined || spent === undefined || limit === undefined) return undefined;
      return {
        limit: limit.credits_posted - limit.debits_posted,
        spent: spent.credits_posted,
        pending: spendable.debits_pending,
        funded: spendable.credits_posted,
        returned: spendable.debits_posted - spent.credits_posted,
      };
    });
  }

  #present(state: BudgetState | undefined, of: BudgetIds | "wallet"): BudgetState {
    if (state !== undefined) return state;
    const which = of === "wallet" || of === this.#wallet ? "the wallet" : "a budget account";
    throw this.#inconsistent(`the accounts of ${which} are missing`);
  }

  #balanceOf(state: BudgetState): LedgerBalance {
    return makeBalance(
      this.#usertokens(state.limit, "budget"),
      this.#usertokens(state.spent, "spend"),
      this.#usertokens(state.pending, "held amount"),
    );
  }

  async #createAccounts(accounts: Account[]): Promise<void> {
    const results = await this.#request("creation of accounts", (client) => client.createAccounts(accounts));
    for (const [index, result] of results.entries()) {
      if (result.status === ACCOUNT_CREATED || result.status === ACCOUNT_EXISTS) continue;
      throw new LedgerUnavailableError(
        `${this.#where()} refused to create usertrust's account ${accounts[index]?.id.toString(16)} ` +
          `(status ${result.status}): an account with that id exists with other settings, made by another ` +
          "program. Give usertrust a ledger number of its own (`ledger`) or another walletId.",
      );
    }
  }

  async #createTransfers(events: Transfer[], what: string): Promise<CreateTransferResult[]> {
    const results = await this.#request(what, (client) => client.createTransfers(events));
    if (results.length !== events.length) {
      throw this.#inconsistent(
        `the cluster answered ${results.length} results for ${events.length} transfers`,
      );
    }
    return results;
  }

  async #lookupTransfer(id: bigint): Promise<Transfer | undefined> {
    return (await this.#lookupTransfers([id])).get(id);
  }

  async #lookupTransfers(ids: bigint[]): Promise<Map<bigint, Transfer>> {
    const found = await this.#request("lookup of transfers", (client) => client.lookupTransfers(ids));
    return new Map(found.map((transfer) => [transfer.id, transfer]));
  }

  /** One request, bounded: the client itself retries forever, so the bound is ours to keep. */
  async #request<T>(what: string, send: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.#client();
    this.#open();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.#noAnswer(what)), this.#requestTimeoutMs);
    });
    try {
      return await Promise.race([send(client), timedOut]);
    } catch (error) {
      throw this.#failed(error, what, client);
    } finally {
      clearTimeout(timer);
    }
  }

  #client(): Promise<Client> {
    if (this.#injected !== undefined) return Promise.resolve(this.#injected);
    this.#connecting ??= this.#connect().catch((error: unknown) => {
      this.#connecting = undefined;
      throw error;
    });
    return this.#connecting;
  }

  async #connect(): Promise<Client> {
    let createClient: typeof import("tigerbeetle-node").createClient;
    try {
      ({ createClient } = await import("tigerbeetle-node"));
    } catch (error) {
      throw new LedgerUnavailableError(
        "The TigerBeetle ledger needs the `tigerbeetle-node` package, which could not be loaded " +
          `(${reasonOf(error)}). Install it next to usertrust with \`npm install tigerbeetle-node\`.`,
        { cause: error },
      );
    }
    let client: Client;
    try {
      client = createClient({ cluster_id: this.#clusterId, replica_addresses: [...this.#addresses] });
    } catch (error) {
      throw new LedgerUnavailableError(
        `Cannot start a TigerBeetle client for ${this.#where()}: ${reasonOf(error)}. ` +
          'Addresses are "port", "host" or "host:port", e.g. ["3000"] or ["10.0.0.1:3000"].',
        { cause: error },
      );
    }
    if (this.#closed) {
      client.destroy();
      throw new ClientDestroyedError();
    }
    return client;
  }

  #failed(error: unknown, what: string, client: Client): unknown {
    if (error instanceof UsertrustError || error instanceof RangeError) return error;
    if (this.#closed) return new ClientDestroyedError();
    const code = (error as { code?: unknown }).code;
    // An evicted or closed client never answers again: forget one we made, so the next call starts afresh.
    if ((code === "ERR_CLIENT_EVICTED" || code === "ERR_CLIENT_CLOSED") && client !== this.#injected) {
      this.#connecting = undefined;
      client.destroy();
    }
    const hint =
      code === "ERR_CLIENT_RELEASE_TOO_LOW" || code === "ERR_CLIENT_RELEASE_TOO_HIGH"
        ? "This tigerbeetle-node release does not match the cluster's: install the version the cluster runs."
        : code === "ERR_CLIENT_EVICTED"
          ? "The cluster evicted this client (it has too many clients, or lost this one); the next call reconnects."
          : "Check that the cluster is running and reachable from this host.";
    return new LedgerUnavailableError(`${this.#where()} failed the ${what}: ${reasonOf(error)}. ${hint}`, {
      cause: error,
    });
  }

  #noAnswer(what: string): LedgerUnavailableError {
    return new LedgerUnavailableError(
      `${this.#where()} did not answer the ${what} within ${this.#requestTimeoutMs} ms, so the call is refused. ` +
        "Check that its replicas are running (`tigerbeetle start`) and reachable from this host, and that " +
        "`clusterId` is the one the cluster was formatted with; if the cluster is only slow, raise `requestTimeoutMs`.",
    );
  }

  #unexpected(what: string, status: number): LedgerUnavailableError {
    return new LedgerUnavailableError(
      `${this.#where()} refused ${what} with ${statusName(status)}, which usertrust does not expect: ` +
        "its accounts may have been changed by another program. Give usertrust a ledger number of its own.",
    );
  }

  #inconsistent(detail: string): LedgerUnavailableError {
    return new LedgerUnavailableError(
      `${this.#where()} holds an inconsistent usertrust ledger (wallet "${this.#walletId}", ledger ${this.#ledger}): ` +
        `${detail}. Were its transfers made by another program on the same ledger number?`,
    );
  }

  #contended(what: string, holdId: string): LedgerUnavailableError {
    return new LedgerUnavailableError(
      `The ${what} of hold ${holdId} on ${this.#where()} met concurrent changes to the same budgets ` +
        `${CHAIN_ROUNDS_MAX} times in a row; try the call again.`,
    );
  }

  #where(): string {
    return `The TigerBeetle cluster ${this.#clusterId} at ${this.#addresses.join(", ")}`;
  }

  #usertokens(value: bigint, what: string): number {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.#inconsistent(`its ${what} is ${value}, which is not a whole number of usertokens`);
    }
    return Number(value);
  }

  #accountIds(accountId: string): BudgetIds {
    const ids = this.#budgetIds(`account:${accountId}`);
    this.#names.set(ids.spendable, accountId);
    return ids;
  }

  #budgetIds(scope: string): BudgetIds {
    return {
      spendable: this.#id("spendable", scope),
      spent: this.#id("spent", scope),
      limit: this.#id("limit", scope),
    };
  }

  /** Ids are stable across hosts and retries: a hash of what the object is, in this wallet and ledger. */
  #id(kind: string, ...parts: (string | number | bigint)[]): bigint {
    return idOf(["usertrust/v1", this.#ledger, this.#walletId, kind, ...parts.map(String)]);
  }

  #open(): void {
    if (this.#closed) throw new ClientDestroyedError();
  }
}

interface BudgetIds {
  spendable: bigint;
  spent: bigint;
  limit: bigint;
}

interface BudgetState {
  /** The budget as configured. */
  limit: bigint;
  spent: bigint;
  pending: bigint;
  /** All the spendable account was ever funded with. */
  funded: bigint;
  /** All the spendable account gave back when its budget fell. */
  returned: bigint;
}

interface HoldRequest {
  holdId: string;
  markerId: bigint;
  amount: bigint;
  timeoutSeconds: number;
  budgets: readonly BudgetIds[];
}

interface FoundHold {
  holdId: string;
  marker: Transfer;
  /** The pending transfers, wallet first, then the budget accounts in reserve order. */
  legs: Transfer[];
  budgets: BudgetIds[];
  settlement: Settlement | undefined;
}

const SETTLEMENT_KINDS = ["post", "void", "late"] as const;

interface Settlement {
  kind: (typeof SETTLEMENT_KINDS)[number];
  cost: bigint;
  posted: bigint;
  /** Names a late settle's transfers; 0 otherwise. */
  lateNonce: bigint;
}

type ChainRole = { kind: "marker" } | { kind: "sync" } | { kind: "leg"; budget: number };

interface Chain {
  events: Transfer[];
  roles: ChainRole[];
}

const REQUEST_TIMEOUT_MS_DEFAULT = 5_000;
const REQUEST_TIMEOUT_MS_MAX = 600_000;
/** Rounds a call reads and retries when a concurrent call changed the same budgets first. */
const CHAIN_ROUNDS_MAX = 8;
/** Keeps a hold's chain far below the cluster's 8189 events a batch. */
const ACCOUNTS_PER_HOLD_MAX = 100;
const ID_LENGTH_MAX = 200;
const U32_MAX = 2 ** 32 - 1;
const U64_MAX = 2n ** 64n - 1n;
const U128_MAX = 2n ** 128n - 1n;
const NS_PER_MS = 1_000_000n;

// TigerBeetle's wire values. Typed with tigerbeetle-node's enums, so the compiler checks them against
// the package, which is loaded only at runtime and only when this adapter creates a client.
const PENDING: TransferFlags.pending = 2;
const POST_PENDING: TransferFlags.post_pending_transfer = 4;
const VOID_PENDING: TransferFlags.void_pending_transfer = 8;
const BALANCING_DEBIT: TransferFlags.balancing_debit = 16;
const LINKED: TransferFlags.linked = 1;
const DEBITS_MUST_NOT_EXCEED_CREDITS: AccountFlags.debits_must_not_exceed_credits = 2;
const ACCOUNT_CREATED: CreateAccountStatus.created = 4294967295;
const ACCOUNT_EXISTS: CreateAccountStatus.exists = 21;
const CREATED: CreateTransferStatus.created = 4294967295;
const LINKED_EVENT_FAILED: CreateTransferStatus.linked_event_failed = 1;
const EXCEEDS_CREDITS: CreateTransferStatus.exceeds_credits = 54;
const PENDING_TRANSFER_EXPIRED: CreateTransferStatus.pending_transfer_expired = 35;
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

/** Account codes, so usertrust's accounts say what they are in other tools. */
const ACCOUNT_CODE = { operator: 1, spendable: 2, spent: 3, limit: 4 } as const;
const TRANSFER_CODE = { limit: 1, sync: 2, holdMarker: 3, hold: 4, settleMarker: 5, late: 6 } as const;

function isExists(status: number): boolean {
  return EXISTS_STATUSES.has(status);
}

function statusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `status ${status} (see CreateTransferStatus in tigerbeetle-node)`;
}

/** The event that broke a chain; the others in it report linked_event_failed. */
function firstFailure(
  results: readonly CreateTransferResult[],
): { index: number; status: number } | undefined {
  const index = results.findIndex(
    (result) => result.status !== CREATED && result.status !== LINKED_EVENT_FAILED,
  );
  if (index >= 0) return { index, status: results[index]?.status ?? 0 };
  const linkedFailure = results.findIndex((result) => result.status !== CREATED);
  return linkedFailure < 0 ? undefined : { index: linkedFailure, status: LINKED_EVENT_FAILED };
}

function freeOf(state: BudgetState): bigint {
  const free = state.limit - state.spent - state.pending;
  return free > 0n ? free : 0n;
}

function linked(events: Transfer[]): Transfer[] {
  return events.map((event, index) =>
    index < events.length - 1 ? { ...event, flags: event.flags | LINKED } : event,
  );
}

function transferOf(fields: Pick<Transfer, "id"> & Partial<Transfer>): Transfer {
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

function accountOf(id: bigint, ledger: number, code: number, flags: number): Account {
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

/** 128 bits of SHA-256; never 0 or 2^128 − 1, which TigerBeetle reserves. */
function idOf(parts: readonly (string | number)[]): bigint {
  const digest = createHash("sha256").update(JSON.stringify(parts)).digest();
  const id = (digest.readBigUInt64BE(0) << 64n) | digest.readBigUInt64BE(8);
  return id === 0n || id === U128_MAX ? idOf([...parts, "again"]) : id;
}

function randomId(): bigint {
  const bytes = randomBytes(16);
  const id = (bytes.readBigUInt64BE(0) << 64n) | bytes.readBigUInt64BE(8);
  return id === 0n || id === U128_MAX ? randomId() : id;
}

function clusterIdOf(value: number | bigint): bigint {
  const whole = typeof value === "bigint" || Number.isSafeInteger(value);
  if (!whole || BigInt(value) < 0n || BigInt(value) > U128_MAX) {
    throw new RangeError(`clusterId must be a whole number from 0 to 2^128 − 1, got ${value}`);
  }
  return BigInt(value);
}

function assertHoldAccounts(accounts: readonly BudgetAccount[]): void {
  if (accounts.length > ACCOUNTS_PER_HOLD_MAX) {
    throw new RangeError(
      `a hold may name at most ${ACCOUNTS_PER_HOLD_MAX} budget accounts, got ${accounts.length}`,
    );
  }
  const seen = new Set<string>();
  for (const account of accounts) {
    if (account.id.length === 0 || account.id.length > ID_LENGTH_MAX) {
      throw new RangeError(
        `budget account ids must be 1–${ID_LENGTH_MAX} characters, got ${account.id.length}`,
      );
    }
    if (seen.has(account.id)) throw new RangeError(`a hold names budget account ${account.id} twice`);
    seen.add(account.id);
    assertUsertokens(`limit of ${account.id}`, account.limitUsertokens);
  }
}

function missingHold(holdId: string): HoldStateError {
  return new HoldStateError(`no hold with id ${holdId} exists in this ledger`);
}

/** The error's own words, without a closing full stop, to sit inside a sentence of ours. */
function reasonOf(error: unknown): string {
  const reason = error instanceof Error ? error.message || error.constructor.name : String(error);
  return reason.replace(/\.$/, "");
}
