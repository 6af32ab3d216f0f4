import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BudgetExceededError } from "../../../src/core/errors.ts";
import type { BudgetAccount, Clock, Ledger } from "../../../src/core/ledger/ledger.ts";
import { ledgerAdapters } from "../../support/ledger-adapters.ts";

/**
 * Scoped budgets on the ledger port: a hold placed on the wallet and on budget accounts at once,
 * all or nothing, posted and released on every one of them. Every adapter runs the same cases.
 */

const MINUTE_S = 60;

class ManualClock {
  nowMs = 1_700_000_000_000;
  readonly now: Clock = () => this.nowMs;
}

let accountCount = 0;
/** Account ids are shared by every ledger on a store, so each test names its own. */
function account(limitUsertokens: number, label = "team"): BudgetAccount {
  accountCount += 1;
  return { id: `${label}-${process.pid}-${accountCount}/** day 2026-12-04 (UTC)`, limitUsertokens };
}

const opened: Ledger[] = [];
afterEach(async () => {
  for (const ledger of opened.splice(0)) await ledger.close();
});

describe.each(ledgerAdapters())("$name holds on budget accounts", (adapter) => {
  let clock: ManualClock;

  beforeAll(async () => adapter.setUp?.());
  afterAll(async () => adapter.tearDown?.());
  beforeEach(() => {
    clock = new ManualClock();
  });

  function openLedger(budgetUsertokens: number): Ledger {
    const ledger = adapter.open({ budgetUsertokens, clock: clock.now });
    opened.push(ledger);
    return ledger;
  }

  it("holds the amount on the wallet and on every account listed", async () => {
    const ledger = openLedger(10_000);
    const team = account(1_000);
    const org = account(5_000, "org");
    const wallet = await ledger.reserve("h1", 300, MINUTE_S, [team, org]);

    expect(wallet.pendingUsertokens).toBe(300);
    expect(await ledger.accountBalance(team.id)).toEqual({
      budgetUsertokens: 1_000,
      postedUsertokens: 0,
      pendingUsertokens: 300,
      remainingUsertokens: 700,
    });
    expect((await ledger.accountBalance(org.id))?.remainingUsertokens).toBe(4_700);
  });

  it("knows no account a hold never used", async () => {
    const ledger = openLedger(10_000);
    expect(await ledger.accountBalance(account(1).id)).toBeUndefined();
  });

  it("refuses the whole hold when one account lacks room, naming it, and holds nothing anywhere", async () => {
    const ledger = openLedger(10_000);
    const roomy = account(5_000, "roomy");
    const tight = account(500, "tight");
    await ledger.reserve("first", 400, MINUTE_S, [tight]);

    const error = await ledger.reserve("second", 200, MINUTE_S, [roomy, tight]).then(
      () => undefined,
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(BudgetExceededError);
    const refusal = error as BudgetExceededError;
    expect(refusal.account).toBe(tight.id);
    expect(refusal.neededUsertokens).toBe(200);
    expect(refusal.remainingUsertokens).toBe(100);
    expect(refusal.message).toContain(tight.id);
    expect((await ledger.balance()).pendingUsertokens).toBe(400);
    expect((await ledger.accountBalance(roomy.id))?.pendingUsertokens ?? 0).toBe(0);
    expect((await ledger.accountBalance(tight.id))?.pendingUsertokens).toBe(400);
    expect(await ledger.holdState("second")).toBeUndefined();
  });

  it("holds nothing on any account when another account of the hold refuses, even one whose limit it raised", async () => {
    const ledger = openLedger(10_000);
    const team = account(1_000);
    const tight = account(100, "tight");
    await ledger.reserve("first", 50, MINUTE_S, [team]);
    await expect(
      ledger.reserve("second", 200, MINUTE_S, [{ id: team.id, limitUsertokens: 3_000 }, tight]),
    ).rejects.toMatchObject({ account: tight.id });
    const after = await ledger.accountBalance(team.id);
    expect(after).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 50 });
    // The raised limit is the config's own value: an adapter may apply it already (TigerBeetle
    // does, in a step before the hold's chain) or with the next hold (the transactional ones).
    expect([1_000, 3_000]).toContain(after?.budgetUsertokens);
    expect(await ledger.holdState("second")).toBeUndefined();
  });

  it("refuses with the wallet's numbers when the wallet is what lacks room", async () => {
    const ledger = openLedger(100);
    const team = account(1_000);
    const error = await ledger.reserve("h1", 150, MINUTE_S, [team]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect((error as BudgetExceededError).account).toBeUndefined();
    expect((error as BudgetExceededError).remainingUsertokens).toBe(100);
    expect((await ledger.accountBalance(team.id))?.pendingUsertokens ?? 0).toBe(0);
  });

  it("lets a refused id be held later, once the account has room again", async () => {
    const ledger = openLedger(10_000);
    const team = account(500);
    await ledger.reserve("big", 450, MINUTE_S, [team]);
    await expect(ledger.reserve("next", 100, MINUTE_S, [team])).rejects.toBeInstanceOf(BudgetExceededError);
    await ledger.void("big");
    await ledger.reserve("next", 100, MINUTE_S, [team]);
    expect(await ledger.holdState("next")).toBe("pending");
    expect((await ledger.accountBalance(team.id))?.pendingUsertokens).toBe(100);
  });

  it("posts the same amount on the wallet and every account and reports each account after the post", async () => {
    const ledger = openLedger(10_000);
    const team = account(1_000);
    const org = account(5_000, "org");
    await ledger.reserve("h1", 300, MINUTE_S, [team, org]);

    const result = await ledger.post("h1", 120);

    expect(result.postedUsertokens).toBe(120);
    expect(result.balance.postedUsertokens).toBe(120);
    expect(result.accounts).toEqual([
      {
        id: team.id,
        balance: {
          budgetUsertokens: 1_000,
          postedUsertokens: 120,
          pendingUsertokens: 0,
          remainingUsertokens: 880,
        },
      },
      {
        id: org.id,
        balance: {
          budgetUsertokens: 5_000,
          postedUsertokens: 120,
          pendingUsertokens: 0,
          remainingUsertokens: 4_880,
        },
      },
    ]);
  });

  it("caps the post at the hold on every account and reports the shortfall once", async () => {
    const ledger = openLedger(10_000);
    const team = account(1_000);
    await ledger.reserve("h1", 100, MINUTE_S, [team]);
    const result = await ledger.post("h1", 130);
    expect(result.postedUsertokens).toBe(100);
    expect(result.shortfallUsertokens).toBe(30);
    expect((await ledger.accountBalance(team.id))?.postedUsertokens).toBe(100);
  });

  it("never posts twice on an account when the post is retried", async () => {
    const ledger = openLedger(10_000);
    const team = account(1_000);
    await ledger.reserve("h1", 100, MINUTE_S, [team]);
    await ledger.post("h1", 80);
    const retried = await ledger.post("h1", 80);
    expect(retried.postedUsertokens).toBe(80);
    expect((await ledger.accountBalance(team.id))?.postedUsertokens).toBe(80);
    expect((await ledger.balance()).postedUsertokens).toBe(80);
  });

  it("releases the hold on every account when voided", async () => {
    const ledger = openLedger(10_000);
    const team = account(1_000);
    const org = account(5_000, "org");
    await ledger.reserve("h1", 300, MINUTE_S, [team, org]);
    await ledger.void("h1");
    expect((await ledger.accountBalance(team.id))?.remainingUsertokens).toBe(1_000);
    expect((await ledger.accountBalance(org.id))?.remainingUsertokens).toBe(5_000);
    expect((await ledger.balance()).remainingUsertokens).toBe(10_000);
  });

  it.skipIf(adapter.keepsOwnTime)("stops counting an expired hold on every account", async () => {
    const ledger = openLedger(10_000);
    const team = account(1_000);
    await ledger.reserve("h1", 600, 30, [team]);
    clock.nowMs += 31_000;
    expect((await ledger.accountBalance(team.id))?.pendingUsertokens).toBe(0);
    await ledger.reserve("h2", 1_000, MINUTE_S, [team]);
    expect((await ledger.accountBalance(team.id))?.remainingUsertokens).toBe(0);
  });

  it.skipIf(adapter.keepsOwnTime)(
    "takes only what every account still has free on a late settle",
    async () => {
      const ledger = openLedger(10_000);
      const team = account(1_000);
      await ledger.reserve("late", 500, 30, [team]);
      clock.nowMs += 31_000;
      await ledger.reserve("other", 800, MINUTE_S, [team]);

      const result = await ledger.post("late", 400);

      expect(result.lateSettle).toBe(true);
      expect(result.postedUsertokens).toBe(200);
      expect(result.shortfallUsertokens).toBe(200);
      expect(result.accounts[0]?.balance).toMatchObject({ postedUsertokens: 200, pendingUsertokens: 800 });
      expect((await ledger.balance()).postedUsertokens).toBe(200);
    },
  );

  it("replaces an account's limit when a later hold names a new one", async () => {
    const ledger = openLedger(10_000);
    const team = account(1_000);
    await ledger.reserve("h1", 300, MINUTE_S, [team]);
    await ledger.post("h1", 300);
    await ledger.reserve("h2", 100, MINUTE_S, [{ id: team.id, limitUsertokens: 2_000 }]);
    expect(await ledger.accountBalance(team.id)).toEqual({
      budgetUsertokens: 2_000,
      postedUsertokens: 300,
      pendingUsertokens: 100,
      remainingUsertokens: 1_600,
    });
    await expect(
      ledger.reserve("h3", 100, MINUTE_S, [{ id: team.id, limitUsertokens: 350 }]),
    ).rejects.toMatchObject({ account: team.id, remainingUsertokens: 0 });
  });

  it("shares an account between holds that list it, and keeps other accounts apart", async () => {
    const ledger = openLedger(10_000);
    const a = account(1_000, "a");
    const b = account(1_000, "b");
    await ledger.reserve("h1", 700, MINUTE_S, [a]);
    await ledger.reserve("h2", 700, MINUTE_S, [b]);
    await expect(ledger.reserve("h3", 400, MINUTE_S, [a])).rejects.toMatchObject({ account: a.id });
    await ledger.reserve("h4", 300, MINUTE_S, [b, a]);
    expect((await ledger.accountBalance(a.id))?.remainingUsertokens).toBe(0);
    expect((await ledger.accountBalance(b.id))?.remainingUsertokens).toBe(0);
  });

  it("grants exactly the holds that fit an account when many reserves overlap", async () => {
    const ledger = openLedger(1_000_000);
    const team = account(1_000);
    const attempts = Array.from({ length: 40 }, (_, index) =>
      ledger.reserve(`overlap-${index}`, 100, MINUTE_S, [team]).then(
        () => "granted" as const,
        (error: unknown) => {
          if (error instanceof BudgetExceededError) return "refused" as const;
          throw error;
        },
      ),
    );
    const outcomes = await Promise.all(attempts);
    expect(outcomes.filter((outcome) => outcome === "granted")).toHaveLength(10);
    expect((await ledger.accountBalance(team.id))?.pendingUsertokens).toBe(1_000);
    expect((await ledger.balance()).pendingUsertokens).toBe(1_000);
  });

  it("reports no accounts on the post of a hold placed without any", async () => {
    const ledger = openLedger(1_000);
    await ledger.reserve("plain", 100, MINUTE_S);
    expect((await ledger.post("plain", 50)).accounts).toEqual([]);
  });
});
