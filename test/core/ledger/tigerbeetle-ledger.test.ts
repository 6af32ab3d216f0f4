import { randomBytes } from "node:crypto";
import type { Account, Client } from "tigerbeetle-node";
import { AccountFlags, CreateTransferStatus, RequestError } from "tigerbeetle-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BudgetExceededError,
  ClientDestroyedError,
  HoldStateError,
  LedgerUnavailableError,
} from "../../../src/core/errors.ts";
import type { Ledger, PostResult } from "../../../src/core/ledger/ledger.ts";
import {
  TigerBeetleLedger,
  type TigerBeetleLedgerOptions,
} from "../../../src/core/ledger/tigerbeetle-ledger.ts";
import { accountOf, transferOf } from "../../../src/core/ledger/tigerbeetle-wire.ts";
import { TigerBeetleModel } from "../../support/tigerbeetle-model.ts";

/**
 * What the TigerBeetle adapter adds to the shared ledger suites (which it passes on the model):
 * a cluster that does not answer, ids that make hosts meet on the same holds and budgets,
 * hold ids refused and reserved again, and budget changes the cluster itself enforces.
 */

const MINUTE_S = 60;
let nowMs = 1_700_000_000_000;
const clock = (): number => nowMs;
const opened: Ledger[] = [];

beforeEach(() => {
  nowMs = 1_700_000_000_000;
});

afterEach(async () => {
  for (const ledger of opened.splice(0)) await ledger.close();
});

function ledgerOn(
  model: TigerBeetleModel,
  options: Partial<TigerBeetleLedgerOptions> = {},
): TigerBeetleLedger {
  const ledger = new TigerBeetleLedger({
    addresses: ["3000"],
    clusterId: 0,
    client: model,
    clock,
    ...options,
  });
  opened.push(ledger);
  return ledger;
}

/** The accounts the cluster enforces budgets on: debits must not exceed credits. */
function spendableAccounts(model: TigerBeetleModel): Account[] {
  return model
    .accountsNow()
    .filter((account) => (account.flags & AccountFlags.debits_must_not_exceed_credits) !== 0);
}

/** Tries to spend `amount` from an account straight on the cluster, past the adapter. */
async function spendPastTheAdapter(model: TigerBeetleModel, from: Account, amount: bigint): Promise<string> {
  const elsewhere = accountOf(randomId(), from.ledger, 99, 0);
  await model.createAccounts([elsewhere]);
  const transfer = transferOf({
    id: randomId(),
    debit_account_id: from.id,
    credit_account_id: elsewhere.id,
    amount,
    ledger: from.ledger,
    code: 99,
  });
  const [result] = await model.createTransfers([transfer]);
  return result === undefined ? "no result" : CreateTransferStatus[result.status];
}

function randomId(): bigint {
  return BigInt(`0x${randomBytes(15).toString("hex")}`) + 1n;
}

describe("TigerBeetleLedger when the cluster cannot be reached", () => {
  it("refuses a reserve with LedgerUnavailableError naming the addresses and what to check, then recovers", async () => {
    const model = new TigerBeetleModel(clock);
    model.unreachable = true;
    const ledger = ledgerOn(model, {
      addresses: ["10.0.0.1:3000", "10.0.0.2:3000"],
      clusterId: 7,
      budgetUsertokens: 1_000,
      requestTimeoutMs: 50,
    });

    const startedMs = Date.now();
    const error = await ledger.reserve("h1", 10, MINUTE_S).catch((caught: unknown) => caught);

    expect(Date.now() - startedMs).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(LedgerUnavailableError);
    const message = (error as Error).message;
    expect(message).toContain("cluster 7 at 10.0.0.1:3000, 10.0.0.2:3000");
    expect(message).toContain("within 50 ms");
    expect(message).toContain("tigerbeetle start");
    expect(message).toContain("requestTimeoutMs");
    await expect(ledger.balance()).rejects.toBeInstanceOf(LedgerUnavailableError);

    model.unreachable = false;
    await expect(ledger.reserve("h1", 10, MINUTE_S)).resolves.toMatchObject({ pendingUsertokens: 10 });
  });

  it("turns a client error into LedgerUnavailableError that keeps the client's error as its cause", async () => {
    const model = new TigerBeetleModel(clock);
    model.destroy();
    const ledger = ledgerOn(model, { budgetUsertokens: 1_000 });
    const error = await ledger.reserve("h1", 10, MINUTE_S).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LedgerUnavailableError);
    expect((error as Error).cause).toBeInstanceOf(RequestError);
    expect((error as Error).message).toContain("Client was closed");
  });

  it("loads tigerbeetle-node on first use, times out against an address nothing listens on, and closes its client", async () => {
    const ledger = new TigerBeetleLedger({
      addresses: ["127.0.0.1:1"],
      clusterId: 0,
      budgetUsertokens: 100,
      requestTimeoutMs: 200,
    });
    const error = await ledger.balance().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LedgerUnavailableError);
    expect((error as Error).message).toContain("127.0.0.1:1");
    await ledger.close();
    await expect(ledger.balance()).rejects.toBeInstanceOf(ClientDestroyedError);
  });
});

describe("TigerBeetleLedger ids", () => {
  it("lets two ledgers on one cluster and wallet share the budget, the holds and the budget accounts", async () => {
    const model = new TigerBeetleModel(clock);
    const first = ledgerOn(model, { walletId: "fleet", budgetUsertokens: 1_000 });
    const second = ledgerOn(model, { walletId: "fleet" });
    const team = { id: "team-a/** day 2026-12-04", limitUsertokens: 700 };

    await first.reserve("h1", 600, MINUTE_S, [team]);

    expect(await second.balance()).toEqual({
      budgetUsertokens: 1_000,
      postedUsertokens: 0,
      pendingUsertokens: 600,
      remainingUsertokens: 400,
    });
    await expect(second.reserve("h2", 500, MINUTE_S)).rejects.toMatchObject({ remainingUsertokens: 400 });
    await expect(second.reserve("h3", 200, MINUTE_S, [team])).rejects.toMatchObject({
      account: team.id,
      remainingUsertokens: 100,
    });
    expect(await second.accountBalance(team.id)).toMatchObject({ pendingUsertokens: 600 });

    const posted = await second.post("h1", 250);
    expect(posted).toMatchObject({ postedUsertokens: 250, shortfallUsertokens: 0, lateSettle: false });
    expect(posted.accounts).toEqual([
      {
        id: team.id,
        balance: {
          budgetUsertokens: 700,
          postedUsertokens: 250,
          pendingUsertokens: 0,
          remainingUsertokens: 450,
        },
      },
    ]);
    // Retries through the other ledger meet the same hold: the first answers stand.
    await expect(first.reserve("h1", 900, MINUTE_S)).resolves.toMatchObject({ postedUsertokens: 250 });
    await expect(first.post("h1", 999)).resolves.toMatchObject({
      postedUsertokens: 250,
      shortfallUsertokens: 0,
    });
    expect(await first.holdState("h1")).toBe("posted");
  });

  it("keeps wallets apart on one cluster", async () => {
    const model = new TigerBeetleModel(clock);
    const a = ledgerOn(model, { walletId: "a", budgetUsertokens: 100 });
    const b = ledgerOn(model, { walletId: "b", budgetUsertokens: 50 });
    await a.reserve("h1", 100, MINUTE_S);
    await expect(b.reserve("h1", 50, MINUTE_S)).resolves.toMatchObject({ remainingUsertokens: 0 });
    expect(await a.balance()).toMatchObject({ budgetUsertokens: 100, pendingUsertokens: 100 });
  });

  it("names a budget account it never met by its cluster id in a post result", async () => {
    const model = new TigerBeetleModel(clock);
    const reserver = ledgerOn(model, { budgetUsertokens: 1_000 });
    const poster = ledgerOn(model);
    await reserver.reserve("h1", 100, MINUTE_S, [{ id: "org", limitUsertokens: 500 }]);
    const result = await poster.post("h1", 40);
    expect(result.accounts).toHaveLength(1);
    expect(result.accounts[0]?.id).toMatch(/^tigerbeetle:[0-9a-f]+$/);
    expect(result.accounts[0]?.balance).toMatchObject({ budgetUsertokens: 500, postedUsertokens: 40 });
  });

  it("reserves a hold id again after refusals, and a retry after the grant changes nothing even on a full wallet", async () => {
    const model = new TigerBeetleModel(clock);
    const ledger = ledgerOn(model, { budgetUsertokens: 100 });
    await ledger.reserve("big", 100, MINUTE_S);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await expect(ledger.reserve("h", 50, MINUTE_S)).rejects.toBeInstanceOf(BudgetExceededError);
    }
    await ledger.void("big");
    await ledger.reserve("h", 50, MINUTE_S);
    await ledger.reserve("fill", 50, MINUTE_S);

    await expect(ledger.reserve("h", 50, MINUTE_S)).resolves.toMatchObject({
      pendingUsertokens: 100,
      remainingUsertokens: 0,
    });
    expect(await ledger.holdState("h")).toBe("pending");
    await expect(ledger.post("h", 50)).resolves.toMatchObject({ postedUsertokens: 50 });
  });
});

describe("TigerBeetleLedger budget changes", () => {
  it("funds the budget on the cluster, which then refuses a spend past the adapter beyond it", async () => {
    const model = new TigerBeetleModel(clock);
    const ledger = ledgerOn(model, { budgetUsertokens: 1_000 });
    await ledger.reserve("h1", 100, MINUTE_S);
    const [wallet] = spendableAccounts(model);
    if (wallet === undefined) throw new Error("no spendable account on the cluster");
    expect(wallet).toMatchObject({ credits_posted: 1_000n, debits_pending: 100n });
    expect(await spendPastTheAdapter(model, wallet, 901n)).toBe("exceeds_credits");

    await ledger.setBudget(1_500);
    await ledger.reserve("h2", 1, MINUTE_S);
    const [raised] = spendableAccounts(model);
    expect(raised).toMatchObject({ credits_posted: 1_500n, debits_pending: 101n });
  });

  it("gives back what a lowered budget frees, so the cluster enforces the lower budget too", async () => {
    const model = new TigerBeetleModel(clock);
    const ledger = ledgerOn(model, { budgetUsertokens: 1_000 });
    await ledger.reserve("held", 800, MINUTE_S);
    await ledger.setBudget(500);

    expect(await ledger.balance()).toEqual({
      budgetUsertokens: 500,
      postedUsertokens: 0,
      pendingUsertokens: 800,
      remainingUsertokens: 0,
    });
    await expect(ledger.reserve("h1", 1, MINUTE_S)).rejects.toMatchObject({ remainingUsertokens: 0 });
    await ledger.void("held");
    await ledger.reserve("h2", 500, MINUTE_S);
    await expect(ledger.reserve("h3", 1, MINUTE_S)).rejects.toBeInstanceOf(BudgetExceededError);

    const [wallet] = spendableAccounts(model);
    if (wallet === undefined) throw new Error("no spendable account on the cluster");
    expect(await spendPastTheAdapter(model, wallet, 1n)).toBe("exceeds_credits");
  });

  it("grants exactly what a raised budget allows to many overlapping reserves from two hosts", async () => {
    const model = new TigerBeetleModel(clock);
    const first = ledgerOn(model, { walletId: "shared", budgetUsertokens: 100 });
    const second = ledgerOn(model, { walletId: "shared" });
    await first.reserve("before", 100, MINUTE_S);
    await second.setBudget(1_100);

    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        (index % 2 === 0 ? first : second).reserve(`h${index}`, 100, MINUTE_S).then(
          () => "granted",
          (error: unknown) => (error instanceof BudgetExceededError ? "refused" : error),
        ),
      ),
    );

    expect(outcomes.filter((outcome) => outcome === "granted")).toHaveLength(10);
    expect(outcomes.filter((outcome) => outcome === "refused")).toHaveLength(20);
    expect(await first.balance()).toMatchObject({ pendingUsertokens: 1_100, remainingUsertokens: 0 });
  });

  it("keeps the budget on the cluster when opened without one", async () => {
    const model = new TigerBeetleModel(clock);
    await ledgerOn(model, { budgetUsertokens: 1_234 }).balance();
    expect(await ledgerOn(model).balance()).toMatchObject({
      budgetUsertokens: 1_234,
      remainingUsertokens: 1_234,
    });
  });
});

describe("TigerBeetleLedger lifetime and options", () => {
  it("leaves an injected client open on close, for the other ledgers that share it", async () => {
    const model = new TigerBeetleModel(clock);
    const closing = ledgerOn(model, { budgetUsertokens: 100 });
    const staying = ledgerOn(model);
    await closing.reserve("h1", 10, MINUTE_S);
    await closing.close();
    await expect(closing.balance()).rejects.toBeInstanceOf(ClientDestroyedError);
    await expect(staying.balance()).resolves.toMatchObject({ pendingUsertokens: 10 });
  });

  it("judges a hold expired by its timeout against the clock, and the cluster gives its budget back", async () => {
    const model = new TigerBeetleModel(clock);
    const ledger = ledgerOn(model, { budgetUsertokens: 100 });
    await ledger.reserve("h1", 100, 30);
    nowMs += 29_999;
    expect(await ledger.holdState("h1")).toBe("pending");
    nowMs += 1;
    expect(await ledger.holdState("h1")).toBe("expired");
    expect(spendableAccounts(model)[0]).toMatchObject({ debits_pending: 0n });
  });

  it.each<[string, Partial<TigerBeetleLedgerOptions>]>([
    ["no addresses", { addresses: [] }],
    ["a negative clusterId", { clusterId: -1 }],
    ["a fractional clusterId", { clusterId: 1.5 }],
    ["an empty walletId", { walletId: "" }],
    ["ledger 0", { ledger: 0 }],
    ["a zero requestTimeoutMs", { requestTimeoutMs: 0 }],
    ["a fractional budget", { budgetUsertokens: 2.5 }],
  ])("refuses %s before touching the cluster", (_, options) => {
    expect(() => new TigerBeetleLedger({ addresses: ["3000"], clusterId: 0, ...options })).toThrow(
      RangeError,
    );
  });

  it("refuses a hold that names one budget account twice, holding nothing", async () => {
    const model = new TigerBeetleModel(clock);
    const ledger = ledgerOn(model, { budgetUsertokens: 100 });
    const team = { id: "team", limitUsertokens: 50 };
    await expect(ledger.reserve("h1", 10, MINUTE_S, [team, team])).rejects.toBeInstanceOf(RangeError);
    expect(await ledger.holdState("h1")).toBeUndefined();
  });
});

/** The model behind a proxy that counts requests: on a real cluster each one is a network round trip. */
function countingClient(model: TigerBeetleModel): { client: Client; requests: () => number } {
  let requests = 0;
  const client = new Proxy(model, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (REQUESTS.has(String(property))) requests += 1;
        return value.apply(target, args);
      };
    },
  });
  return { client, requests: () => requests };
}
const REQUESTS = new Set(["createAccounts", "createTransfers", "lookupAccounts", "lookupTransfers"]);

async function requestsOf(
  counting: { requests: () => number },
  call: () => Promise<unknown>,
): Promise<number> {
  const before = counting.requests();
  await call();
  return counting.requests() - before;
}

describe("TigerBeetleLedger round trips", () => {
  it("reserves, posts and voids on known accounts in at most two requests each", async () => {
    const model = new TigerBeetleModel(clock);
    const counting = countingClient(model);
    const ledger = ledgerOn(model, {
      client: counting.client,
      budgetUsertokens: 10_000,
    });
    const team = { id: "team", limitUsertokens: 1_000 };
    const org = { id: "org", limitUsertokens: 5_000 };
    await ledger.reserve("first", 10, MINUTE_S, [team, org]);

    expect(
      await requestsOf(counting, () => ledger.reserve("h1", 300, MINUTE_S, [team, org])),
    ).toBeLessThanOrEqual(2);
    let posted: PostResult | undefined;
    const postRequests = await requestsOf(counting, async () => {
      posted = await ledger.post("h1", 120);
    });
    expect(postRequests).toBeLessThanOrEqual(2);
    expect(posted?.accounts.map((account) => [account.id, account.balance.postedUsertokens])).toEqual([
      ["team", 120],
      ["org", 120],
    ]);
    expect(await requestsOf(counting, () => ledger.reserve("h2", 50, MINUTE_S, [team]))).toBeLessThanOrEqual(
      2,
    );
    expect(await requestsOf(counting, () => ledger.void("h2"))).toBeLessThanOrEqual(2);
    expect(await ledger.accountBalance(team.id)).toEqual({
      budgetUsertokens: 1_000,
      postedUsertokens: 120,
      pendingUsertokens: 10,
      remainingUsertokens: 870,
    });
  });

  it("still applies a budget another host lowered to its very next reserve", async () => {
    const model = new TigerBeetleModel(clock);
    const here = ledgerOn(model, { walletId: "fleet", budgetUsertokens: 1_000 });
    const elsewhere = ledgerOn(model, { walletId: "fleet" });
    await here.reserve("h1", 100, MINUTE_S);
    await here.post("h1", 100);

    await elsewhere.setBudget(300);

    await expect(here.reserve("h2", 201, MINUTE_S)).rejects.toMatchObject({ remainingUsertokens: 200 });
    await expect(here.reserve("h3", 200, MINUTE_S)).resolves.toMatchObject({ remainingUsertokens: 0 });
    const [wallet] = spendableAccounts(model);
    if (wallet === undefined) throw new Error("no spendable account on the cluster");
    expect(await spendPastTheAdapter(model, wallet, 1n)).toBe("exceeds_credits");
  });

  it("settles a hold it placed once only, when another host settled it first", async () => {
    const model = new TigerBeetleModel(clock);
    const placer = ledgerOn(model, { walletId: "fleet", budgetUsertokens: 1_000 });
    const other = ledgerOn(model, { walletId: "fleet" });
    await placer.reserve("posted-elsewhere", 100, MINUTE_S);
    await placer.reserve("voided-elsewhere", 100, MINUTE_S);
    const first = await other.post("posted-elsewhere", 60);
    await other.void("voided-elsewhere");

    // A retry repeats the first answer; the balances in it are current.
    await expect(placer.post("posted-elsewhere", 90)).resolves.toMatchObject({
      postedUsertokens: first.postedUsertokens,
      shortfallUsertokens: first.shortfallUsertokens,
      lateSettle: false,
    });
    await expect(placer.void("posted-elsewhere")).rejects.toBeInstanceOf(HoldStateError);
    await expect(placer.post("voided-elsewhere", 10)).rejects.toBeInstanceOf(HoldStateError);
    expect(await placer.balance()).toMatchObject({ postedUsertokens: 60, pendingUsertokens: 0 });
  });
});
