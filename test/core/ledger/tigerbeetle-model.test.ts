import { randomBytes } from "node:crypto";
import type { Account, Client, Transfer } from "tigerbeetle-node";
import {
  AccountFlags,
  amount_max,
  CreateAccountStatus,
  CreateTransferStatus,
  createClient,
  ErrorCodes,
  RequestError,
  TransferFlags,
} from "tigerbeetle-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { transferOf as wireTransfer } from "../../../src/core/ledger/tigerbeetle-wire.ts";
import { TigerBeetleModel } from "../../support/tigerbeetle-model.ts";

/**
 * The TigerBeetle semantics the ledger adapter relies on, written against tigerbeetle-node's Client
 * so the same cases check the in-repo model and, with USERTRUST_TB_ADDRESS set, a live cluster
 * (USERTRUST_TB_CLUSTER, default 0). Every case makes accounts and transfers with fresh random
 * ids, so a live cluster can be reused between runs.
 */

interface Cluster {
  client: Client;
  /** Lets cluster time pass: the model's clock moves; a live cluster is waited for (and its pulse). */
  passSeconds(seconds: number): Promise<void>;
  close(): void;
}

const clusters: { name: string; open: () => Cluster }[] = [
  {
    name: "TigerBeetleModel",
    open: () => {
      let nowMs = 1_700_000_000_000;
      const model = new TigerBeetleModel(() => nowMs);
      return {
        client: model,
        passSeconds: async (seconds) => {
          nowMs += seconds * 1000;
        },
        close: () => model.destroy(),
      };
    },
  },
];
const liveAddress = process.env.USERTRUST_TB_ADDRESS;
if (liveAddress !== undefined && liveAddress !== "") {
  clusters.push({
    name: `live cluster at ${liveAddress}`,
    open: () => {
      const client = createClient({
        cluster_id: BigInt(process.env.USERTRUST_TB_CLUSTER ?? "0"),
        replica_addresses: [liveAddress],
      });
      return {
        client,
        // The cluster expires pending transfers at its next pulse after the timeout.
        passSeconds: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000 + 1_000)),
        close: () => client.destroy(),
      };
    },
  });
}

const LEDGER = 7;
const CODE = 10;

function newId(): bigint {
  const bytes = randomBytes(16);
  return ((bytes.readBigUInt64BE(0) << 64n) | bytes.readBigUInt64BE(8)) >> 1n || 1n;
}

function accountOf(fields: Partial<Account> = {}): Account {
  return {
    id: newId(),
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    reserved: 0,
    ledger: LEDGER,
    code: CODE,
    flags: 0,
    timestamp: 0n,
    ...fields,
  };
}

function transferOf(fields: Partial<Transfer>): Transfer {
  return wireTransfer({ id: newId(), ledger: LEDGER, code: CODE, ...fields });
}

/** A post or void: every field but the pending id, amount and flag left to the pending transfer. */
function resolutionOf(pending: Transfer, flag: TransferFlags, amount: bigint): Transfer {
  return transferOf({ pending_id: pending.id, amount, flags: flag, ledger: 0, code: 0 });
}

describe.each(clusters)("$name keeps the TigerBeetle semantics usertrust relies on", ({ open }) => {
  let cluster: Cluster;
  let client: Client;

  beforeAll(() => {
    cluster = open();
    client = cluster.client;
  });
  afterAll(() => cluster.close());

  async function accountStatuses(...accounts: Account[]): Promise<string[]> {
    const results = await client.createAccounts(accounts);
    return results.map((result) => CreateAccountStatus[result.status]);
  }

  async function statuses(...transfers: Transfer[]): Promise<string[]> {
    const results = await client.createTransfers(transfers);
    return results.map((result) => CreateTransferStatus[result.status]);
  }

  async function balances(
    account: Account,
  ): Promise<Pick<Account, "debits_pending" | "debits_posted" | "credits_pending" | "credits_posted">> {
    const [found] = await client.lookupAccounts([account.id]);
    if (found === undefined) throw new Error("account not found");
    const { debits_pending, debits_posted, credits_pending, credits_posted } = found;
    return { debits_pending, debits_posted, credits_pending, credits_posted };
  }

  async function amountOf(transfer: Transfer): Promise<bigint | undefined> {
    const [found] = await client.lookupTransfers([transfer.id]);
    return found?.amount;
  }

  /** An operator account, and a spendable account funded by it with `funds`. */
  async function fundedAccount(
    funds: bigint,
  ): Promise<{ operator: Account; spendable: Account; sink: Account }> {
    const operator = accountOf();
    const spendable = accountOf({ flags: AccountFlags.debits_must_not_exceed_credits });
    const sink = accountOf();
    expect(await accountStatuses(operator, spendable, sink)).toEqual(["created", "created", "created"]);
    if (funds > 0n) {
      const funding = transferOf({
        debit_account_id: operator.id,
        credit_account_id: spendable.id,
        amount: funds,
      });
      expect(await statuses(funding)).toEqual(["created"]);
    }
    return { operator, spendable, sink };
  }

  describe("accounts", () => {
    it("creates an account once; a retry is exists with the first timestamp, other settings are named", async () => {
      const account = accountOf();
      const [created] = await client.createAccounts([account]);
      const [retried] = await client.createAccounts([account]);
      expect(created?.status).toBe(CreateAccountStatus.created);
      expect(retried).toEqual({ status: CreateAccountStatus.exists, timestamp: created?.timestamp });
      expect(
        await accountStatuses(
          { ...account, flags: AccountFlags.debits_must_not_exceed_credits },
          { ...account, code: CODE + 1 },
          { ...account, ledger: LEDGER + 1 },
          { ...account, user_data_64: 9n },
        ),
      ).toEqual([
        "exists_with_different_flags",
        "exists_with_different_code",
        "exists_with_different_ledger",
        "exists_with_different_user_data_64",
      ]);
    });

    it("refuses a zero id, opening balances, a zero ledger or code, and both balance limits at once", async () => {
      expect(
        await accountStatuses(
          accountOf({ id: 0n }),
          accountOf({ credits_posted: 1n }),
          accountOf({ ledger: 0 }),
          accountOf({ code: 0 }),
          accountOf({
            flags: AccountFlags.debits_must_not_exceed_credits | AccountFlags.credits_must_not_exceed_debits,
          }),
        ),
      ).toEqual([
        "id_must_not_be_zero",
        "credits_posted_must_be_zero",
        "ledger_must_not_be_zero",
        "code_must_not_be_zero",
        "flags_are_mutually_exclusive",
      ]);
    });

    it("creates linked accounts all or nothing, and refuses a chain left open", async () => {
      const first = accountOf({ flags: AccountFlags.linked });
      expect(await accountStatuses(first, accountOf({ code: 0 }))).toEqual([
        "linked_event_failed",
        "code_must_not_be_zero",
      ]);
      expect(await client.lookupAccounts([first.id])).toEqual([]);
      expect(await accountStatuses(accountOf(), accountOf({ flags: AccountFlags.linked }))).toEqual([
        "created",
        "linked_event_chain_open",
      ]);
    });

    it("looks up only the accounts that exist, in the order asked", async () => {
      const a = accountOf();
      const b = accountOf();
      await accountStatuses(a, b);
      const found = await client.lookupAccounts([newId(), b.id, a.id]);
      expect(found.map((account) => account.id)).toEqual([b.id, a.id]);
    });
  });

  describe("single-phase transfers", () => {
    it("moves posted amounts and stamps every event with a later timestamp", async () => {
      const { operator, spendable } = await fundedAccount(100n);
      const moves = [1n, 2n].map((amount) =>
        transferOf({ debit_account_id: spendable.id, credit_account_id: operator.id, amount }),
      );
      const results = await client.createTransfers(moves);
      expect(results.map((result) => result.status)).toEqual([
        CreateTransferStatus.created,
        CreateTransferStatus.created,
      ]);
      expect((results[1]?.timestamp ?? 0n) > (results[0]?.timestamp ?? 0n)).toBe(true);
      expect(await balances(spendable)).toEqual({
        debits_pending: 0n,
        debits_posted: 3n,
        credits_pending: 0n,
        credits_posted: 100n,
      });
    });

    it("refuses a debit beyond the credits and never accepts that id again, even once funded", async () => {
      const { operator, spendable, sink } = await fundedAccount(100n);
      const spend = transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 150n });
      expect(await statuses(spend)).toEqual(["exceeds_credits"]);
      const topUp = transferOf({
        debit_account_id: operator.id,
        credit_account_id: spendable.id,
        amount: 100n,
      });
      expect(await statuses(topUp)).toEqual(["created"]);
      expect(await statuses(spend)).toEqual(["id_already_failed"]);
      expect(await statuses({ ...spend, id: newId() })).toEqual(["created"]);
      expect(await client.lookupTransfers([spend.id])).toEqual([]);
    });

    it("spends the id of a transfer to an account that does not exist yet", async () => {
      const { operator } = await fundedAccount(0n);
      const later = accountOf();
      const early = transferOf({ debit_account_id: operator.id, credit_account_id: later.id, amount: 1n });
      expect(await statuses(early)).toEqual(["credit_account_not_found"]);
      await accountStatuses(later);
      expect(await statuses(early)).toEqual(["id_already_failed"]);
    });

    it("answers a retry with exists and the first timestamp, and names the field a different retry changed", async () => {
      const { operator, spendable, sink } = await fundedAccount(100n);
      const spend = transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 10n });
      const [created] = await client.createTransfers([spend]);
      const [retried] = await client.createTransfers([spend]);
      expect(retried).toEqual({ status: CreateTransferStatus.exists, timestamp: created?.timestamp });
      expect(
        await statuses(
          { ...spend, amount: 11n },
          { ...spend, debit_account_id: operator.id },
          { ...spend, credit_account_id: operator.id },
          { ...spend, code: CODE + 1 },
          { ...spend, user_data_64: 5n },
          { ...spend, flags: TransferFlags.pending, timeout: 60 },
        ),
      ).toEqual([
        "exists_with_different_amount",
        "exists_with_different_debit_account_id",
        "exists_with_different_credit_account_id",
        "exists_with_different_code",
        "exists_with_different_user_data_64",
        "exists_with_different_flags",
      ]);
      expect((await balances(spendable)).debits_posted).toBe(10n);
    });

    it("refuses a timeout on a transfer that is not pending, and a transfer to its own account", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      expect(
        await statuses(
          transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 1n, timeout: 5 }),
          transferOf({ debit_account_id: spendable.id, credit_account_id: spendable.id, amount: 1n }),
        ),
      ).toEqual(["timeout_reserved_for_pending_transfer", "accounts_must_be_different"]);
    });
  });

  describe("two-phase transfers", () => {
    async function pendingOf(
      spendable: Account,
      sink: Account,
      amount: bigint,
      timeout = 3_600,
    ): Promise<Transfer> {
      const pending = transferOf({
        debit_account_id: spendable.id,
        credit_account_id: sink.id,
        amount,
        timeout,
        flags: TransferFlags.pending,
      });
      expect(await statuses(pending)).toEqual(["created"]);
      return pending;
    }

    it("holds a pending amount in debits_pending, where it counts against the credits", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      await pendingOf(spendable, sink, 70n);
      const tooMuch = transferOf({
        debit_account_id: spendable.id,
        credit_account_id: sink.id,
        amount: 31n,
        timeout: 60,
        flags: TransferFlags.pending,
      });
      expect(await statuses(tooMuch)).toEqual(["exceeds_credits"]);
      expect(await balances(spendable)).toMatchObject({ debits_pending: 70n, debits_posted: 0n });
      expect(await balances(sink)).toMatchObject({ credits_pending: 70n, credits_posted: 0n });
    });

    it("posts part of a pending amount and gives the rest back", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      const pending = await pendingOf(spendable, sink, 70n);
      const post = resolutionOf(pending, TransferFlags.post_pending_transfer, 30n);
      expect(await statuses(post)).toEqual(["created"]);
      expect(await amountOf(post)).toBe(30n);
      expect(await balances(spendable)).toMatchObject({ debits_pending: 0n, debits_posted: 30n });
      expect(await balances(sink)).toMatchObject({ credits_pending: 0n, credits_posted: 30n });
    });

    it("posts nothing for an amount of 0 and the whole pending amount for amount_max", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      const first = await pendingOf(spendable, sink, 50n);
      const second = await pendingOf(spendable, sink, 40n);
      const postZero = resolutionOf(first, TransferFlags.post_pending_transfer, 0n);
      const postAll = resolutionOf(second, TransferFlags.post_pending_transfer, amount_max);
      expect(await statuses(postZero, postAll)).toEqual(["created", "created"]);
      expect(await amountOf(postZero)).toBe(0n);
      expect(await amountOf(postAll)).toBe(40n);
      expect(await balances(spendable)).toMatchObject({ debits_pending: 0n, debits_posted: 40n });
      // A retry of a post of everything is still exists.
      expect(await statuses(postAll)).toEqual(["exists"]);
    });

    it("refuses to post more than is pending, and resolves a pending transfer at most once", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      const pending = await pendingOf(spendable, sink, 70n);
      expect(await statuses(resolutionOf(pending, TransferFlags.post_pending_transfer, 71n))).toEqual([
        "exceeds_pending_transfer_amount",
      ]);
      expect(await statuses(resolutionOf(pending, TransferFlags.post_pending_transfer, 70n))).toEqual([
        "created",
      ]);
      expect(
        await statuses(
          resolutionOf(pending, TransferFlags.post_pending_transfer, 1n),
          resolutionOf(pending, TransferFlags.void_pending_transfer, 0n),
        ),
      ).toEqual(["pending_transfer_already_posted", "pending_transfer_already_posted"]);
    });

    it("voids the whole pending amount, only the whole, and a voided transfer cannot be posted", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      const pending = await pendingOf(spendable, sink, 70n);
      expect(await statuses(resolutionOf(pending, TransferFlags.void_pending_transfer, 10n))).toEqual([
        "pending_transfer_has_different_amount",
      ]);
      const voiding = resolutionOf(pending, TransferFlags.void_pending_transfer, 0n);
      expect(await statuses(voiding)).toEqual(["created"]);
      expect(await amountOf(voiding)).toBe(70n);
      expect(await balances(spendable)).toMatchObject({ debits_pending: 0n, debits_posted: 0n });
      expect(await statuses(resolutionOf(pending, TransferFlags.post_pending_transfer, 10n))).toEqual([
        "pending_transfer_already_voided",
      ]);
      expect(await statuses(voiding)).toEqual(["exists"]);
    });

    it("spends the id of a post whose pending transfer does not exist yet", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      const pending = transferOf({
        debit_account_id: spendable.id,
        credit_account_id: sink.id,
        amount: 5n,
        timeout: 60,
        flags: TransferFlags.pending,
      });
      const early = resolutionOf(pending, TransferFlags.post_pending_transfer, 5n);
      expect(await statuses(early)).toEqual(["pending_transfer_not_found"]);
      expect(await statuses(pending)).toEqual(["created"]);
      expect(await statuses(early)).toEqual(["id_already_failed"]);
    });

    it("gives a pending amount back when its timeout passes, and then refuses to post or void it", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      const pending = await pendingOf(spendable, sink, 70n, 1);
      expect((await balances(spendable)).debits_pending).toBe(70n);

      await cluster.passSeconds(1);

      expect(await balances(spendable)).toMatchObject({ debits_pending: 0n, debits_posted: 0n });
      expect((await balances(sink)).credits_pending).toBe(0n);
      expect(
        await statuses(
          resolutionOf(pending, TransferFlags.post_pending_transfer, 70n),
          resolutionOf(pending, TransferFlags.void_pending_transfer, 0n),
        ),
      ).toEqual(["pending_transfer_expired", "pending_transfer_expired"]);
      const room = transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 100n });
      expect(await statuses(room)).toEqual(["created"]);
    });
  });

  describe("balancing_debit", () => {
    it("moves at most what the debit account has free, possibly nothing", async () => {
      const { operator, spendable, sink } = await fundedAccount(100n);
      const spend = transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 30n });
      const hold = transferOf({
        debit_account_id: spendable.id,
        credit_account_id: sink.id,
        amount: 20n,
        timeout: 3_600,
        flags: TransferFlags.pending,
      });
      const giveBack = transferOf({
        debit_account_id: spendable.id,
        credit_account_id: operator.id,
        amount: 1_000n,
        flags: TransferFlags.balancing_debit,
      });
      const again = { ...giveBack, id: newId() };
      expect(await statuses(spend, hold, giveBack, again)).toEqual([
        "created",
        "created",
        "created",
        "created",
      ]);
      expect(await amountOf(giveBack)).toBe(50n);
      expect(await amountOf(again)).toBe(0n);
      expect(await balances(spendable)).toMatchObject({
        debits_posted: 80n,
        debits_pending: 20n,
        credits_posted: 100n,
      });
    });

    it("answers a retry with exists while it asks at least what was taken", async () => {
      const { operator, spendable } = await fundedAccount(100n);
      const giveBack = transferOf({
        debit_account_id: spendable.id,
        credit_account_id: operator.id,
        amount: 1_000n,
        flags: TransferFlags.balancing_debit,
      });
      expect(await statuses(giveBack)).toEqual(["created"]);
      expect(await statuses(giveBack, { ...giveBack, amount: 100n }, { ...giveBack, amount: 99n })).toEqual([
        "exists",
        "exists",
        "exists_with_different_amount",
      ]);
    });
  });

  describe("linked chains", () => {
    it("applies a chain all or nothing: the breaking event has its status, the rest linked_event_failed", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      const move = (amount: bigint, flags = TransferFlags.linked): Transfer =>
        transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount, flags });
      const [first, breaking, last] = [move(40n), move(70n), move(1n, TransferFlags.none)];
      if (first === undefined || breaking === undefined || last === undefined) throw new Error("chain");
      expect(await statuses(first, breaking, last)).toEqual([
        "linked_event_failed",
        "exceeds_credits",
        "linked_event_failed",
      ]);
      expect(await balances(spendable)).toMatchObject({ debits_posted: 0n });
      // Only the transfer that failed for lack of credits spent its id.
      expect(await statuses({ ...first, flags: 0 }, last, { ...breaking, flags: 0, amount: 1n })).toEqual([
        "created",
        "created",
        "id_already_failed",
      ]);
    });

    it("lets each event of a chain see the ones before it", async () => {
      const { operator, spendable, sink } = await fundedAccount(0n);
      expect(
        await statuses(
          transferOf({
            debit_account_id: operator.id,
            credit_account_id: spendable.id,
            amount: 50n,
            flags: TransferFlags.linked,
          }),
          transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 50n }),
        ),
      ).toEqual(["created", "created"]);
    });

    it("fails a chain whose first event exists already, and keeps events outside it apart", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      const marker = transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 0n });
      expect(await statuses(marker)).toEqual(["created"]);
      const alone = transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 5n });
      const after = transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 7n });
      const chained = transferOf({ debit_account_id: spendable.id, credit_account_id: sink.id, amount: 10n });
      expect(await statuses(alone, { ...marker, flags: TransferFlags.linked }, chained, after)).toEqual([
        "created",
        // `linked` is one of the flags an existing transfer is compared on.
        "exists_with_different_flags",
        "linked_event_failed",
        "created",
      ]);
      expect((await balances(spendable)).debits_posted).toBe(12n);
      const linkedMarker = { ...marker, id: newId(), flags: TransferFlags.linked };
      expect(await statuses(linkedMarker, { ...chained, id: newId() })).toEqual(["created", "created"]);
      expect(await statuses(linkedMarker, { ...chained, id: newId() })).toEqual([
        "exists",
        "linked_event_failed",
      ]);
      expect((await balances(spendable)).debits_posted).toBe(22n);
    });

    it("refuses a chain left open at the end of the batch", async () => {
      const { spendable, sink } = await fundedAccount(100n);
      const open = (amount: bigint): Transfer =>
        transferOf({
          debit_account_id: spendable.id,
          credit_account_id: sink.id,
          amount,
          flags: TransferFlags.linked,
        });
      expect(await statuses(open(1n), open(2n))).toEqual(["linked_event_failed", "linked_event_chain_open"]);
      expect((await balances(spendable)).debits_posted).toBe(0n);
    });
  });
});

describe("TigerBeetleModel as a test double", () => {
  it("judges a timeout at the millisecond it ends in", async () => {
    let nowMs = 1_700_000_000_000;
    const model = new TigerBeetleModel(() => nowMs);
    const [operator, spendable] = [accountOf(), accountOf()];
    await model.createAccounts([operator, spendable]);
    const pending = transferOf({
      debit_account_id: operator.id,
      credit_account_id: spendable.id,
      amount: 5n,
      timeout: 2,
      flags: TransferFlags.pending,
    });
    await model.createTransfers([pending]);
    nowMs += 1_999;
    expect((await model.lookupAccounts([spendable.id]))[0]?.credits_pending).toBe(5n);
    nowMs += 1;
    expect((await model.lookupAccounts([spendable.id]))[0]?.credits_pending).toBe(0n);
  });

  it("hangs every request while unreachable, as the client retries forever, until destroyed", async () => {
    const model = new TigerBeetleModel(() => 1_700_000_000_000);
    model.unreachable = true;
    const lookup = model.lookupAccounts([1n]);
    const winner = await Promise.race([
      lookup.then(() => "answered"),
      new Promise((resolve) => setTimeout(() => resolve("still waiting"), 50)),
    ]);
    expect(winner).toBe("still waiting");
    model.destroy();
    await expect(lookup).rejects.toBeInstanceOf(RequestError);
    await expect(lookup).rejects.toMatchObject({ code: ErrorCodes.ERR_CLIENT_CLOSED });
    await expect(model.lookupTransfers([1n])).rejects.toMatchObject({ code: ErrorCodes.ERR_CLIENT_CLOSED });
  });

  it("refuses what it does not model instead of answering wrongly", async () => {
    const model = new TigerBeetleModel(() => 1_700_000_000_000);
    await expect(model.queryAccounts()).rejects.toThrow("not modelled");
    await expect(model.createAccounts([accountOf({ flags: AccountFlags.imported })])).rejects.toThrow(
      "not modelled",
    );
    await expect(model.createTransfers([transferOf({ flags: TransferFlags.closing_debit })])).rejects.toThrow(
      "not modelled",
    );
  });
});
