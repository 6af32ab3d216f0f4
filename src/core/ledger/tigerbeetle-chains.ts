import type { CreateTransferResult, Transfer } from "tigerbeetle-node";
import type { BudgetState } from "./tigerbeetle-budgets.ts";
import { type BudgetIds, randomId, type TigerBeetleIds } from "./tigerbeetle-ids.ts";
import {
  BALANCING_DEBIT,
  linked,
  PENDING,
  POST_PENDING,
  TRANSFER_CODE,
  transferOf,
  U64_MAX,
  U128_MAX,
  VOID_PENDING,
} from "./tigerbeetle-wire.ts";

/**
 * The linked chains a ledger call sends, built from ids and budget states and nothing else, so each
 * can be read (and tested) alone. Every chain is all or nothing on the cluster.
 */

export interface HoldRequest {
  holdId: string;
  amount: bigint;
  timeoutSeconds: number;
  /** The wallet first, then the budget accounts in reserve order. */
  budgets: readonly BudgetIds[];
}

/** A hold as placed on the cluster: what a settle needs to post or void it. */
export interface PlacedHold {
  holdId: string;
  /** The attempt's nonce, which names the hold's pending transfers and their settles. */
  nonce: bigint;
  /** The pending transfers, wallet first, then the budget accounts in reserve order. */
  legs: readonly Transfer[];
  budgets: readonly BudgetIds[];
}

export const SETTLEMENT_KINDS = ["post", "void", "late"] as const;

export interface Settlement {
  kind: (typeof SETTLEMENT_KINDS)[number];
  cost: bigint;
  posted: bigint;
  /** Names a late settle's transfers; 0 otherwise. */
  lateNonce: bigint;
}

export type ChainRole = { kind: "marker" } | { kind: "sync" } | { kind: "leg"; budget: number };

export interface HoldChain {
  events: Transfer[];
  /** What each event is, to tell from a failure's index what refused. */
  roles: ChainRole[];
  nonce: bigint;
}

/** The chain of a new hold: marker, syncs, then one pending transfer per budget, wallet first. */
export function holdChain(ids: TigerBeetleIds, hold: HoldRequest, states: readonly BudgetState[]): HoldChain {
  const nonce = randomId();
  const events: Transfer[] = [
    transferOf({
      id: ids.holdMarker(hold.holdId),
      debit_account_id: ids.operator,
      credit_account_id: ids.wallet.spent,
      user_data_128: nonce,
      user_data_64: BigInt(hold.timeoutSeconds),
      user_data_32: hold.budgets.length - 1,
      ledger: ids.ledger,
      code: TRANSFER_CODE.holdMarker,
    }),
  ];
  const roles: ChainRole[] = [{ kind: "marker" }];
  for (const [index, budget] of hold.budgets.entries()) {
    const state = states[index];
    if (state === undefined) continue;
    for (const sync of syncs(ids, budget, state)) {
      events.push(sync);
      roles.push({ kind: "sync" });
    }
  }
  for (const [index, budget] of hold.budgets.entries()) {
    events.push(
      transferOf({
        id: ids.holdLeg(hold.holdId, nonce, index),
        debit_account_id: budget.spendable,
        credit_account_id: budget.spent,
        amount: hold.amount,
        // The leg names its budget's limit account, so a post finds every number it reports.
        user_data_128: budget.limit,
        timeout: hold.timeoutSeconds,
        ledger: ids.ledger,
        code: TRANSFER_CODE.hold,
        flags: PENDING,
      }),
    );
    roles.push({ kind: "leg", budget: index });
  }
  return { events: linked(events), roles, nonce };
}

/**
 * The hold a successful hold chain placed, from the chain itself and the cluster's timestamps,
 * so a settle by this process needs no lookup. Undefined when a result lacks its timestamp.
 */
export function placedHold(
  hold: HoldRequest,
  chain: HoldChain,
  results: readonly CreateTransferResult[],
): PlacedHold | undefined {
  const legs: Transfer[] = [];
  for (const [index, role] of chain.roles.entries()) {
    const event = chain.events[index];
    const timestamp = results[index]?.timestamp ?? 0n;
    if (role.kind !== "leg" || event === undefined) continue;
    if (timestamp === 0n) return undefined;
    legs.push({ ...event, timestamp });
  }
  return { holdId: hold.holdId, nonce: chain.nonce, legs, budgets: hold.budgets };
}

/**
 * Brings a budget's spendable account to its limit: funds the difference, or gives back what is
 * free of the excess. The first transfer's id is derived from the account's funding state
 * (credits and give-backs so far, which only a sync changes), so of all syncs computed from one
 * state at most one is ever applied. A give-back leads with a one-unit funding so that even a
 * give-back that finds nothing free moves the state on, and the next sync gets a fresh id.
 */
export function syncs(ids: TigerBeetleIds, budget: BudgetIds, state: BudgetState): Transfer[] {
  const ceiling = state.funded - state.returned;
  if (ceiling === state.limit) return [];
  const fund = (amount: bigint): Transfer =>
    transferOf({
      id: ids.sync(budget.spendable, state.funded, state.returned),
      debit_account_id: ids.operator,
      credit_account_id: budget.spendable,
      amount,
      ledger: ids.ledger,
      code: TRANSFER_CODE.sync,
    });
  if (ceiling < state.limit) return [fund(state.limit - ceiling)];
  return [
    fund(1n),
    transferOf({
      id: ids.syncReturn(budget.spendable, state.funded, state.returned),
      debit_account_id: budget.spendable,
      credit_account_id: ids.operator,
      amount: ceiling - state.limit + 1n,
      ledger: ids.ledger,
      code: TRANSFER_CODE.sync,
      flags: BALANCING_DEBIT,
    }),
  ];
}

/**
 * Posts or voids every leg of a hold behind the settle marker; `recordOnly` sends the marker alone,
 * for a void of a hold that expired and has nothing left to release.
 */
export function settleChain(
  ids: TigerBeetleIds,
  hold: PlacedHold,
  settlement: Settlement,
  options: { recordOnly?: boolean } = {},
): Transfer[] {
  const kind = settlement.kind === "void" ? "void" : "post";
  const legs =
    options.recordOnly === true
      ? []
      : hold.legs.map((leg, index) =>
          transferOf({
            id: ids.settleLeg(kind, hold.holdId, hold.nonce, index),
            pending_id: leg.id,
            amount: kind === "void" ? 0n : settlement.posted,
            flags: kind === "void" ? VOID_PENDING : POST_PENDING,
          }),
        );
  return linked([settleMarker(ids, hold.holdId, settlement), ...legs]);
}

/**
 * A post after the hold expired: the settle marker, the syncs, then the same amount posted on every
 * budget of the hold. Should others take the room first, a transfer fails with exceeds_credits and
 * the chain changes nothing. (A `balancing_debit` per budget would take different amounts from each.)
 */
export function lateChain(
  ids: TigerBeetleIds,
  hold: PlacedHold,
  settlement: Settlement,
  states: readonly BudgetState[],
): Transfer[] {
  const events = [settleMarker(ids, hold.holdId, settlement)];
  for (const [index, budget] of hold.budgets.entries()) {
    const state = states[index];
    if (state !== undefined) events.push(...syncs(ids, budget, state));
  }
  for (const [index, budget] of hold.budgets.entries()) {
    events.push(
      transferOf({
        id: ids.lateLeg(hold.holdId, settlement.lateNonce, index),
        debit_account_id: budget.spendable,
        credit_account_id: budget.spent,
        amount: settlement.posted,
        ledger: ids.ledger,
        code: TRANSFER_CODE.late,
      }),
    );
  }
  return linked(events);
}

/** A fresh nonce for a late settle's transfers; it travels in the settle marker's upper 64 bits. */
export function lateNonce(): bigint {
  return randomId() & U64_MAX;
}

/** Zero-amount: it moves nothing and records the first settle's kind, cost and amount posted. */
function settleMarker(ids: TigerBeetleIds, holdId: string, settlement: Settlement): Transfer {
  return transferOf({
    id: ids.settleMarker(holdId),
    debit_account_id: ids.operator,
    credit_account_id: ids.wallet.spent,
    user_data_128: (settlement.lateNonce << 64n) | settlement.posted,
    user_data_64: settlement.cost,
    user_data_32: SETTLEMENT_KINDS.indexOf(settlement.kind) + 1,
    ledger: ids.ledger,
    code: TRANSFER_CODE.settleMarker,
  });
}

/** What a settle marker recorded, or undefined when it names no known settle. */
export function settlementOf(marker: Transfer): Settlement | undefined {
  const kind = SETTLEMENT_KINDS[marker.user_data_32 - 1];
  if (kind === undefined) return undefined;
  return { kind, cost: marker.user_data_64, posted: marker.user_data_128 & U64_MAX, lateNonce: 0n };
}

/**
 * Sets limits absolutely: each limit account gives back all it has, then receives the new limit,
 * in one chain. Racing setters leave the last one's limit, never a sum of both.
 */
export function limitChain(
  ids: TigerBeetleIds,
  changes: readonly { budget: BudgetIds; limit: bigint }[],
): Transfer[] {
  return changes.flatMap(({ budget, limit }) =>
    linked([
      transferOf({
        id: randomId(),
        debit_account_id: budget.limit,
        credit_account_id: ids.operator,
        amount: U128_MAX,
        ledger: ids.ledger,
        code: TRANSFER_CODE.limit,
        flags: BALANCING_DEBIT,
      }),
      transferOf({
        id: randomId(),
        debit_account_id: ids.operator,
        credit_account_id: budget.limit,
        amount: limit,
        ledger: ids.ledger,
        code: TRANSFER_CODE.limit,
      }),
    ]),
  );
}
