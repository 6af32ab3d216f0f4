import { createHash, randomBytes } from "node:crypto";
import { U128_MAX } from "./tigerbeetle-wire.ts";

/** The three TigerBeetle accounts that make one budget (the wallet, or a scoped budget account). */
export interface BudgetIds {
  /** Holds are pending transfers out of it; the cluster refuses one that does not fit. */
  spendable: bigint;
  /** Where holds go; its posted credits are the spend. */
  spent: bigint;
  /** Its net balance is the budget as configured. */
  limit: bigint;
}

/**
 * Every id usertrust uses on a cluster, for one wallet on one ledger number. Ids are 128 bits of
 * SHA-256 over stable strings, so every host and every retry names the same accounts and transfers;
 * only the parts that must differ between attempts (a hold's nonce, a late settle's nonce) are random.
 */
export class TigerBeetleIds {
  readonly ledger: number;
  readonly walletId: string;
  /** Funds every budget and takes back what a lowered budget frees. */
  readonly operator: bigint;
  readonly wallet: BudgetIds;

  constructor(ledger: number, walletId: string) {
    this.ledger = ledger;
    this.walletId = walletId;
    this.operator = this.#id("operator");
    this.wallet = this.#budget("wallet");
  }

  /** A scoped budget account, by its usertrust id. */
  account(accountId: string): BudgetIds {
    return this.#budget(`account:${accountId}`);
  }

  /** Zero-amount marker of a hold: its id is the hold's, so a retried reserve meets it. */
  holdMarker(holdId: string): bigint {
    return this.#id("hold", holdId);
  }

  /** A hold's pending transfer on its `index`th budget, named by the attempt's nonce. */
  holdLeg(holdId: string, nonce: bigint, index: number): bigint {
    return this.#id("hold-leg", holdId, nonce, index);
  }

  /** Zero-amount marker of the first settle of a hold: post, void and late settle exclude each other. */
  settleMarker(holdId: string): bigint {
    return this.#id("settle", holdId);
  }

  settleLeg(kind: "post" | "void", holdId: string, nonce: bigint, index: number): bigint {
    return this.#id(`${kind}-leg`, holdId, nonce, index);
  }

  lateLeg(holdId: string, lateNonce: bigint, index: number): bigint {
    return this.#id("late-leg", holdId, lateNonce, index);
  }

  /** Named by the spendable account's funding state: at most one sync per state is ever applied. */
  sync(spendable: bigint, funded: bigint, returned: bigint): bigint {
    return this.#id("sync", spendable, funded, returned);
  }

  syncReturn(spendable: bigint, funded: bigint, returned: bigint): bigint {
    return this.#id("sync-return", spendable, funded, returned);
  }

  #budget(scope: string): BudgetIds {
    return {
      spendable: this.#id("spendable", scope),
      spent: this.#id("spent", scope),
      limit: this.#id("limit", scope),
    };
  }

  #id(kind: string, ...parts: (string | number | bigint)[]): bigint {
    return idOf(["usertrust/v1", this.ledger, this.walletId, kind, ...parts.map(String)]);
  }
}

/** 128 bits of SHA-256; never 0 or 2^128 − 1, which TigerBeetle reserves. */
function idOf(parts: readonly (string | number)[]): bigint {
  const digest = createHash("sha256").update(JSON.stringify(parts)).digest();
  const id = (digest.readBigUInt64BE(0) << 64n) | digest.readBigUInt64BE(8);
  return id === 0n || id === U128_MAX ? idOf([...parts, "again"]) : id;
}

export function randomId(): bigint {
  const bytes = randomBytes(16);
  const id = (bytes.readBigUInt64BE(0) << 64n) | bytes.readBigUInt64BE(8);
  return id === 0n || id === U128_MAX ? randomId() : id;
}
