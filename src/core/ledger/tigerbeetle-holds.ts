import type { Transfer } from "tigerbeetle-node";
import { type PlacedHold, type Settlement, settlementOf } from "./tigerbeetle-chains.ts";
import type { TigerBeetleCluster } from "./tigerbeetle-cluster.ts";
import type { TigerBeetleIds } from "./tigerbeetle-ids.ts";

/** A hold as placed, with the usertrust ids of its budget accounts in reserve order. */
export interface KnownHold extends PlacedHold {
  accountIds: readonly string[];
}

/** A hold and the first settle the cluster recorded for it, if any. */
export interface FoundHold extends KnownHold {
  settlement: Settlement | undefined;
}

/**
 * A hold as the cluster holds it, or undefined when no reserve ever placed it. A hold this process
 * placed (`known`) costs one lookup, of its settle marker; any other costs two: its markers, then
 * the pending transfers its hold marker's nonce names. `nameOf` names a budget account met only by
 * its spendable account's id.
 */
export async function findHold(
  cluster: TigerBeetleCluster,
  ids: TigerBeetleIds,
  holdId: string,
  options: { known: KnownHold | undefined; nameOf: (spendable: bigint) => string },
): Promise<FoundHold | undefined> {
  const markerId = ids.holdMarker(holdId);
  const settleId = ids.settleMarker(holdId);
  if (options.known !== undefined) {
    const found = await cluster.lookupTransfers([settleId]);
    return { ...options.known, settlement: settlementFrom(cluster, holdId, found.get(settleId)) };
  }
  const found = await cluster.lookupTransfers([markerId, settleId]);
  const marker = found.get(markerId);
  if (marker === undefined) return undefined;
  const nonce = marker.user_data_128;
  const legIds = Array.from({ length: marker.user_data_32 + 1 }, (_, index) =>
    ids.holdLeg(holdId, nonce, index),
  );
  const legsById = await cluster.lookupTransfers(legIds);
  const legs = legIds.map((id) => {
    const leg = legsById.get(id);
    if (leg === undefined)
      throw cluster.inconsistent(`hold ${holdId} has a marker but not all its pending transfers`);
    return leg;
  });
  // Each leg names its budget's limit account, so the hold alone finds every number a post reports.
  const budgets = legs.map((leg) => ({
    spendable: leg.debit_account_id,
    spent: leg.credit_account_id,
    limit: leg.user_data_128,
  }));
  return {
    holdId,
    nonce,
    legs,
    budgets,
    accountIds: budgets.slice(1).map((budget) => options.nameOf(budget.spendable)),
    settlement: settlementFrom(cluster, holdId, found.get(settleId)),
  };
}

/** The hold's pending transfer on the wallet, which every hold has. */
export function walletLeg(cluster: TigerBeetleCluster, hold: PlacedHold): Transfer {
  const leg = hold.legs[0];
  if (leg === undefined)
    throw cluster.inconsistent(`hold ${hold.holdId} has no pending transfer on the wallet`);
  return leg;
}

function settlementFrom(
  cluster: TigerBeetleCluster,
  holdId: string,
  marker: Transfer | undefined,
): Settlement | undefined {
  if (marker === undefined) return undefined;
  const settlement = settlementOf(marker);
  if (settlement === undefined)
    throw cluster.inconsistent(`the settle marker of hold ${holdId} names no known settle`);
  return settlement;
}
