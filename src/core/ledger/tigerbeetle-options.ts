import type { Client } from "tigerbeetle-node";
import { assertUsertokens, type BudgetAccount, type Clock, systemClock } from "./ledger.ts";
import { U32_MAX, U128_MAX } from "./tigerbeetle-wire.ts";

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

/** The options checked and with their defaults, before anything touches the cluster. */
export interface TigerBeetleSettings {
  addresses: readonly string[];
  clusterId: bigint;
  walletId: string;
  ledger: number;
  initialBudget: number | undefined;
  client: Client | undefined;
  requestTimeoutMs: number;
  clock: Clock;
}

const REQUEST_TIMEOUT_MS_DEFAULT = 5_000;
const REQUEST_TIMEOUT_MS_MAX = 600_000;
/** Keeps a hold's chain far below the cluster's 8189 events a batch. */
const ACCOUNTS_PER_HOLD_MAX = 100;
const ID_LENGTH_MAX = 200;

export function settingsOf(options: TigerBeetleLedgerOptions): TigerBeetleSettings {
  if (options.budgetUsertokens !== undefined) assertUsertokens("budget", options.budgetUsertokens);
  if (options.addresses.length === 0 || options.addresses.some((address) => address.trim() === "")) {
    throw new RangeError('TigerBeetle addresses must name at least one replica, e.g. ["3000"]');
  }
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
  return {
    addresses: [...options.addresses],
    clusterId: clusterIdOf(options.clusterId),
    walletId,
    ledger,
    initialBudget: options.budgetUsertokens,
    client: options.client,
    requestTimeoutMs,
    clock: options.clock ?? systemClock,
  };
}

/** A hold's accounts: a bounded number of distinct, well-formed ids with whole limits. */
export function assertHoldAccounts(accounts: readonly BudgetAccount[]): void {
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

function clusterIdOf(value: number | bigint): bigint {
  const whole = typeof value === "bigint" || Number.isSafeInteger(value);
  if (!whole || BigInt(value) < 0n || BigInt(value) > U128_MAX) {
    throw new RangeError(`clusterId must be a whole number from 0 to 2^128 − 1, got ${value}`);
  }
  return BigInt(value);
}
