import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  BudgetExceededError,
  ClientDestroyedError,
  HoldStateError,
  LedgerUnavailableError,
} from "../../../src/core/errors.ts";
import type { Clock, Ledger, PostResult } from "../../../src/core/ledger/ledger.ts";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";
import { MIGRATIONS } from "../../../src/core/ledger/postgres-migrations.ts";
import { SqliteLedger } from "../../../src/core/ledger/sqlite-ledger.ts";
import { ledgerAdapters } from "../../support/ledger-adapters.ts";
import {
  dropSchema,
  queryTestServer,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../../support/postgres-test-server.ts";

/** A clock the test moves by hand, so expiry is tested without sleeping. */
class ManualClock {
  nowMs = 1_700_000_000_000;
  readonly now: Clock = () => this.nowMs;

  advanceMs(ms: number): void {
    this.nowMs += ms;
  }
}

let tempDir = "";
const opened: Ledger[] = [];

beforeEach(() => {
  tempDir = mkdtempSync(join(tmpdir(), "usertrust-ledger-"));
});

afterEach(async () => {
  for (const ledger of opened.splice(0)) await ledger.close();
  rmSync(tempDir, { recursive: true, force: true });
});

function track<L extends Ledger>(ledger: L): L {
  opened.push(ledger);
  return ledger;
}

function ledgerPath(): string {
  return join(tempDir, "ledger.sqlite");
}

/** One schema for this file's Postgres tests; each ledger opened gets its own wallet in it, so tests share nothing. */
const postgresSchema = uniqueSchemaName();
let walletCount = 0;

function nextWalletId(): string {
  walletCount += 1;
  return `wallet-${walletCount}`;
}

const adapters = ledgerAdapters();

const MINUTE_S = 60;

describe.each(adapters)("$name conforms to the ledger port", (adapter) => {
  let clock: ManualClock;

  beforeAll(async () => adapter.setUp?.());
  afterAll(async () => adapter.tearDown?.());

  function openLedger(budgetUsertokens: number): Ledger {
    return track(adapter.open({ budgetUsertokens, clock: clock.now }));
  }

  beforeEach(() => {
    clock = new ManualClock();
  });

  describe("a fresh ledger", () => {
    it("reports the whole budget as remaining, with nothing spent or held", async () => {
      const ledger = openLedger(1_000);
      expect(await ledger.balance()).toEqual({
        budgetUsertokens: 1_000,
        postedUsertokens: 0,
        pendingUsertokens: 0,
        remainingUsertokens: 1_000,
      });
    });

    it("knows no hold it was never given", async () => {
      const ledger = openLedger(1_000);
      expect(await ledger.holdState("never-reserved")).toBeUndefined();
    });
  });

  describe("reserve", () => {
    it("holds the amount against the budget", async () => {
      const ledger = openLedger(1_000);
      const balance = await ledger.reserve("h1", 300, MINUTE_S);
      expect(balance).toEqual({
        budgetUsertokens: 1_000,
        postedUsertokens: 0,
        pendingUsertokens: 300,
        remainingUsertokens: 700,
      });
      expect(await ledger.holdState("h1")).toBe("pending");
    });

    it("holds only once when retried with the same id, even with a different amount", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 300, MINUTE_S);
      const retried = await ledger.reserve("h1", 300, MINUTE_S);
      const retriedBigger = await ledger.reserve("h1", 900, MINUTE_S);
      expect(retried.pendingUsertokens).toBe(300);
      expect(retriedBigger.pendingUsertokens).toBe(300);
      expect((await ledger.balance()).remainingUsertokens).toBe(700);
    });

    it("grants a hold of exactly what is left", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 400, MINUTE_S);
      const balance = await ledger.reserve("h2", 600, MINUTE_S);
      expect(balance.remainingUsertokens).toBe(0);
    });

    it("grants a zero hold even when nothing is left", async () => {
      const ledger = openLedger(100);
      await ledger.reserve("h1", 100, MINUTE_S);
      await expect(ledger.reserve("h2", 0, MINUTE_S)).resolves.toMatchObject({ remainingUsertokens: 0 });
    });

    it("refuses a hold larger than budget − posted − pending with BudgetExceededError naming both numbers", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("spent", 300, MINUTE_S);
      await ledger.post("spent", 300);
      await ledger.reserve("held", 200, MINUTE_S);
      const before = await ledger.balance();

      const error = await ledger.reserve("too-big", 501, MINUTE_S).then(
        () => undefined,
        (caught: unknown) => caught,
      );

      expect(error).toBeInstanceOf(BudgetExceededError);
      const budgetError = error as BudgetExceededError;
      expect(budgetError.code).toBe("BUDGET_EXCEEDED");
      expect(budgetError.neededUsertokens).toBe(501);
      expect(budgetError.remainingUsertokens).toBe(500);
      expect(budgetError.message).toContain("501");
      expect(budgetError.message).toContain("500");
      expect(await ledger.balance()).toEqual(before);
      expect(await ledger.holdState("too-big")).toBeUndefined();
    });

    it("lets a refused id be reserved later, once budget has been freed", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("big", 800, MINUTE_S);
      await expect(ledger.reserve("next", 500, MINUTE_S)).rejects.toBeInstanceOf(BudgetExceededError);
      await ledger.void("big");
      await expect(ledger.reserve("next", 500, MINUTE_S)).resolves.toMatchObject({ pendingUsertokens: 500 });
      expect(await ledger.holdState("next")).toBe("pending");
    });
  });

  describe("post", () => {
    it("spends the actual cost and releases the rest of the hold", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 500, MINUTE_S);
      const result = await ledger.post("h1", 120);
      expect(result).toEqual({
        postedUsertokens: 120,
        shortfallUsertokens: 0,
        lateSettle: false,
        balance: {
          budgetUsertokens: 1_000,
          postedUsertokens: 120,
          pendingUsertokens: 0,
          remainingUsertokens: 880,
        },
        accounts: [],
      });
      expect(await ledger.holdState("h1")).toBe("posted");
    });

    it("spends at most the held amount and reports the excess as a shortfall", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 100, MINUTE_S);
      const result = await ledger.post("h1", 130);
      expect(result.postedUsertokens).toBe(100);
      expect(result.shortfallUsertokens).toBe(30);
      expect(result.lateSettle).toBe(false);
      expect(result.balance.postedUsertokens).toBe(100);
    });

    it("returns the first result when retried and never spends twice", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 100, MINUTE_S);
      const first = await ledger.post("h1", 80);
      const retried = await ledger.post("h1", 80);
      const retriedDifferently = await ledger.post("h1", 95);
      expect(retried).toEqual(first);
      expect(retriedDifferently).toEqual(first);
      expect((await ledger.balance()).postedUsertokens).toBe(80);
    });

    it("keeps the first shortfall when a capped post is retried", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 100, MINUTE_S);
      const first = await ledger.post("h1", 150);
      expect(await ledger.post("h1", 150)).toEqual(first);
      expect(first.shortfallUsertokens).toBe(50);
    });

    it("refuses to post a hold that does not exist", async () => {
      const ledger = openLedger(1_000);
      await expect(ledger.post("ghost", 10)).rejects.toBeInstanceOf(HoldStateError);
      expect((await ledger.balance()).postedUsertokens).toBe(0);
    });

    it("refuses to post a voided hold and spends nothing", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 100, MINUTE_S);
      await ledger.void("h1");
      await expect(ledger.post("h1", 50)).rejects.toBeInstanceOf(HoldStateError);
      expect(await ledger.balance()).toMatchObject({ postedUsertokens: 0, remainingUsertokens: 1_000 });
      expect(await ledger.holdState("h1")).toBe("voided");
    });
  });

  describe("void", () => {
    it("releases the whole hold", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 400, MINUTE_S);
      const balance = await ledger.void("h1");
      expect(balance).toEqual({
        budgetUsertokens: 1_000,
        postedUsertokens: 0,
        pendingUsertokens: 0,
        remainingUsertokens: 1_000,
      });
      expect(await ledger.holdState("h1")).toBe("voided");
    });

    it("is a no-op when retried", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 400, MINUTE_S);
      await ledger.reserve("h2", 100, MINUTE_S);
      const first = await ledger.void("h1");
      expect(await ledger.void("h1")).toEqual(first);
      expect(first.pendingUsertokens).toBe(100);
    });

    it("refuses to void a posted hold and keeps the spend", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 400, MINUTE_S);
      await ledger.post("h1", 250);
      await expect(ledger.void("h1")).rejects.toBeInstanceOf(HoldStateError);
      expect((await ledger.balance()).postedUsertokens).toBe(250);
      expect(await ledger.holdState("h1")).toBe("posted");
    });

    it("refuses to void a hold that does not exist", async () => {
      const ledger = openLedger(1_000);
      await expect(ledger.void("ghost")).rejects.toBeInstanceOf(HoldStateError);
    });

    it.skipIf(adapter.keepsOwnTime)(
      "is harmless on an expired hold, which then reads voided and cannot be posted",
      async () => {
        const ledger = openLedger(1_000);
        await ledger.reserve("h1", 400, MINUTE_S);
        clock.advanceMs(MINUTE_S * 1000);
        const balance = await ledger.void("h1");
        expect(balance).toMatchObject({
          postedUsertokens: 0,
          pendingUsertokens: 0,
          remainingUsertokens: 1_000,
        });
        expect(await ledger.holdState("h1")).toBe("voided");
        await expect(ledger.post("h1", 10)).rejects.toBeInstanceOf(HoldStateError);
      },
    );
  });

  describe("expiry", () => {
    it.skipIf(adapter.keepsOwnTime)(
      "keeps counting a hold until its timeout, then gives the budget back whole",
      async () => {
        const ledger = openLedger(1_000);
        await ledger.reserve("h1", 400, MINUTE_S);

        clock.advanceMs(MINUTE_S * 1000 - 1);
        expect(await ledger.holdState("h1")).toBe("pending");
        expect((await ledger.balance()).pendingUsertokens).toBe(400);

        clock.advanceMs(1);
        expect(await ledger.holdState("h1")).toBe("expired");
        expect(await ledger.balance()).toEqual({
          budgetUsertokens: 1_000,
          postedUsertokens: 0,
          pendingUsertokens: 0,
          remainingUsertokens: 1_000,
        });
      },
    );

    it.skipIf(adapter.keepsOwnTime)("frees room for new holds once a hold expires", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("crashed-call", 800, MINUTE_S);
      await expect(ledger.reserve("next", 900, MINUTE_S)).rejects.toBeInstanceOf(BudgetExceededError);
      clock.advanceMs(MINUTE_S * 1000 + 1);
      await expect(ledger.reserve("next", 900, MINUTE_S)).resolves.toMatchObject({ pendingUsertokens: 900 });
    });

    it.skipIf(adapter.keepsOwnTime)("measures each hold's timeout from its own reserve", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("early", 100, 10);
      clock.advanceMs(5_000);
      await ledger.reserve("late", 200, 10);
      clock.advanceMs(5_000);
      expect(await ledger.holdState("early")).toBe("expired");
      expect(await ledger.holdState("late")).toBe("pending");
      expect((await ledger.balance()).pendingUsertokens).toBe(200);
    });

    it.skipIf(adapter.keepsOwnTime)(
      "does not revive an expired hold when its reserve is retried",
      async () => {
        const ledger = openLedger(1_000);
        await ledger.reserve("h1", 400, MINUTE_S);
        clock.advanceMs(MINUTE_S * 1000);
        const balance = await ledger.reserve("h1", 400, MINUTE_S);
        expect(balance.pendingUsertokens).toBe(0);
        expect(await ledger.holdState("h1")).toBe("expired");
      },
    );
  });

  describe("late settle (post after expiry)", () => {
    it.skipIf(adapter.keepsOwnTime)(
      "takes the whole cost, up to the hold, when the budget still has room",
      async () => {
        const ledger = openLedger(1_000);
        await ledger.reserve("h1", 200, MINUTE_S);
        clock.advanceMs(MINUTE_S * 1000 + 1);
        const result = await ledger.post("h1", 150);
        expect(result).toMatchObject({ postedUsertokens: 150, shortfallUsertokens: 0, lateSettle: true });
        expect(result.balance).toMatchObject({ postedUsertokens: 150, remainingUsertokens: 850 });
        expect(await ledger.holdState("h1")).toBe("posted");
      },
    );

    it.skipIf(adapter.keepsOwnTime)("still caps at the hold and reports the excess", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 200, MINUTE_S);
      clock.advanceMs(MINUTE_S * 1000 + 1);
      const result = await ledger.post("h1", 250);
      expect(result).toMatchObject({ postedUsertokens: 200, shortfallUsertokens: 50, lateSettle: true });
    });

    it.skipIf(adapter.keepsOwnTime)(
      "takes only what the budget still has free once others have claimed the room",
      async () => {
        const ledger = openLedger(1_000);
        await ledger.reserve("slow", 600, MINUTE_S);
        clock.advanceMs(MINUTE_S * 1000 + 1);
        await ledger.reserve("newer", 700, 10 * MINUTE_S);

        const result = await ledger.post("slow", 600);

        expect(result).toMatchObject({ postedUsertokens: 300, shortfallUsertokens: 300, lateSettle: true });
        expect(result.balance).toEqual({
          budgetUsertokens: 1_000,
          postedUsertokens: 300,
          pendingUsertokens: 700,
          remainingUsertokens: 0,
        });
      },
    );

    it.skipIf(adapter.keepsOwnTime)(
      "posts nothing and reports the whole cost as shortfall when the budget is exhausted",
      async () => {
        const ledger = openLedger(1_000);
        await ledger.reserve("slow", 400, MINUTE_S);
        clock.advanceMs(MINUTE_S * 1000 + 1);
        await ledger.reserve("all", 1_000, MINUTE_S);
        await ledger.post("all", 1_000);

        const result = await ledger.post("slow", 400);

        expect(result).toMatchObject({ postedUsertokens: 0, shortfallUsertokens: 400, lateSettle: true });
        expect(result.balance).toMatchObject({ postedUsertokens: 1_000, remainingUsertokens: 0 });
      },
    );

    it.skipIf(adapter.keepsOwnTime)("returns the first result when a late settle is retried", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("slow", 600, MINUTE_S);
      clock.advanceMs(MINUTE_S * 1000 + 1);
      await ledger.reserve("newer", 700, 10 * MINUTE_S);
      const first = await ledger.post("slow", 600);
      await ledger.void("newer");

      const retried = await ledger.post("slow", 600);

      expect(retried.postedUsertokens).toBe(first.postedUsertokens);
      expect(retried.shortfallUsertokens).toBe(first.shortfallUsertokens);
      expect(retried.lateSettle).toBe(true);
      expect(retried.balance.postedUsertokens).toBe(300);
    });
  });

  describe("setBudget", () => {
    it("makes a raised budget available at once", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 1_000, MINUTE_S);
      await ledger.setBudget(1_500);
      expect((await ledger.balance()).remainingUsertokens).toBe(500);
      await expect(ledger.reserve("h2", 500, MINUTE_S)).resolves.toMatchObject({ remainingUsertokens: 0 });
    });

    it("never reports a negative remainder when lowered below what is spent, and refuses new holds", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 800, MINUTE_S);
      await ledger.post("h1", 800);
      await ledger.setBudget(500);
      expect(await ledger.balance()).toEqual({
        budgetUsertokens: 500,
        postedUsertokens: 800,
        pendingUsertokens: 0,
        remainingUsertokens: 0,
      });
      const error = await ledger.reserve("h2", 1, MINUTE_S).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(BudgetExceededError);
      expect((error as BudgetExceededError).remainingUsertokens).toBe(0);
    });
  });

  describe("amounts are whole, non-negative usertokens", () => {
    const badAmounts = [-1, 1.5, 0.1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53];

    it.each(badAmounts)("refuses a hold of %s with RangeError and holds nothing", async (amount) => {
      const ledger = openLedger(1_000);
      await expect(ledger.reserve("h1", amount, MINUTE_S)).rejects.toBeInstanceOf(RangeError);
      expect(await ledger.holdState("h1")).toBeUndefined();
      expect((await ledger.balance()).remainingUsertokens).toBe(1_000);
    });

    it.each(badAmounts)("refuses to post %s with RangeError and leaves the hold pending", async (amount) => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 100, MINUTE_S);
      await expect(ledger.post("h1", amount)).rejects.toBeInstanceOf(RangeError);
      expect(await ledger.holdState("h1")).toBe("pending");
      expect((await ledger.balance()).postedUsertokens).toBe(0);
    });

    it.each(badAmounts)("refuses a budget of %s with RangeError and keeps the old one", async (amount) => {
      const ledger = openLedger(1_000);
      await expect(ledger.setBudget(amount)).rejects.toBeInstanceOf(RangeError);
      expect((await ledger.balance()).budgetUsertokens).toBe(1_000);
    });

    it.each([-1, 2.5])("refuses to open with a budget of %s", (amount) => {
      expect(() => openLedger(amount)).toThrow(RangeError);
    });
  });

  describe("timeouts", () => {
    // A hold whose timeout never passes would lock budget forever if its caller crashed.
    it.each([Number.NaN, Number.POSITIVE_INFINITY])(
      "refuses a timeout of %s seconds with RangeError and holds nothing",
      async (timeoutSeconds) => {
        const ledger = openLedger(1_000);
        await expect(ledger.reserve("h1", 100, timeoutSeconds)).rejects.toBeInstanceOf(RangeError);
        expect(await ledger.holdState("h1")).toBeUndefined();
        expect((await ledger.balance()).pendingUsertokens).toBe(0);
      },
    );
  });

  describe("overlapping calls (the SQLite ledger shares one commit among them)", () => {
    it("grants exactly the holds that fit when many reserves overlap, refusing the rest alone", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("first", 100, MINUTE_S);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => ledger.reserve(`h${i}`, 100, MINUTE_S)),
      );
      const granted = outcomes.filter((o) => o.status === "fulfilled");
      const refused = outcomes.filter((o) => o.status === "rejected");
      expect(granted).toHaveLength(9);
      expect(refused.every((o) => o.reason instanceof BudgetExceededError)).toBe(true);
      expect(await ledger.balance()).toMatchObject({ pendingUsertokens: 1_000, remainingUsertokens: 0 });
      const states = await Promise.all(outcomes.map((_, i) => ledger.holdState(`h${i}`)));
      expect(states.filter((state) => state === "pending")).toHaveLength(9);
      expect(states.filter((state) => state === undefined)).toHaveLength(11);
    });

    it("grants exactly the holds that fit when reserves all start at once on an idle ledger", async () => {
      const ledger = openLedger(1_000);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => ledger.reserve(`h${i}`, 100, MINUTE_S)),
      );
      const granted = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [`h${i}`] : []));
      expect(granted).toHaveLength(10);
      const refusedOtherwise = outcomes.filter(
        (o) => o.status === "rejected" && !(o.reason instanceof BudgetExceededError),
      );
      expect(refusedOtherwise).toEqual([]);
      // Refused reserves leave nothing behind: once the granted holds end, the whole budget is back.
      await Promise.all(granted.map((id, i) => (i % 2 === 0 ? ledger.post(id, 50) : ledger.void(id))));
      expect(await ledger.balance()).toMatchObject({ postedUsertokens: 250, pendingUsertokens: 0 });
      await ledger.reserve("after", 750, MINUTE_S);
      expect(await ledger.holdState("after")).toBe("pending");
    });

    it("settles overlapping posts and voids each exactly once, and a bad one fails alone", async () => {
      const ledger = openLedger(1_000);
      for (let i = 0; i < 6; i++) await ledger.reserve(`h${i}`, 100, MINUTE_S);
      const outcomes = await Promise.allSettled([
        ledger.post("h0", 40),
        ledger.post("h1", 150),
        ledger.void("h2"),
        ledger.post("missing", 10),
        ledger.post("h3", 100),
        ledger.void("h4"),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual([
        "fulfilled",
        "fulfilled",
        "fulfilled",
        "rejected",
        "fulfilled",
        "fulfilled",
      ]);
      expect((outcomes[3] as PromiseRejectedResult).reason).toBeInstanceOf(HoldStateError);
      expect((outcomes[1] as PromiseFulfilledResult<PostResult>).value.shortfallUsertokens).toBe(50);
      expect(await ledger.balance()).toMatchObject({ postedUsertokens: 240, pendingUsertokens: 100 });
    });
  });

  describe("after close", () => {
    it("rejects every call with ClientDestroyedError", async () => {
      const ledger = openLedger(1_000);
      await ledger.reserve("h1", 100, MINUTE_S);
      await ledger.close();
      await expect(ledger.balance()).rejects.toBeInstanceOf(ClientDestroyedError);
      await expect(ledger.reserve("h2", 1, MINUTE_S)).rejects.toBeInstanceOf(ClientDestroyedError);
      await expect(ledger.post("h1", 1)).rejects.toBeInstanceOf(ClientDestroyedError);
      await expect(ledger.void("h1")).rejects.toBeInstanceOf(ClientDestroyedError);
      await expect(ledger.holdState("h1")).rejects.toBeInstanceOf(ClientDestroyedError);
      await expect(ledger.setBudget(5)).rejects.toBeInstanceOf(ClientDestroyedError);
    });

    it("can be closed twice", async () => {
      const ledger = openLedger(1_000);
      await ledger.close();
      await expect(ledger.close()).resolves.toBeUndefined();
    });
  });
});

describe("SqliteLedger durability", () => {
  let clock: ManualClock;

  beforeEach(() => {
    clock = new ManualClock();
  });

  function openFile(options: { budgetUsertokens?: number } = {}): SqliteLedger {
    return track(new SqliteLedger({ path: ledgerPath(), clock: clock.now, ...options }));
  }

  it("keeps spend, holds and their results across closing and reopening the file", async () => {
    const first = openFile({ budgetUsertokens: 1_000 });
    await first.reserve("done", 300, MINUTE_S);
    const posted = await first.post("done", 250);
    await first.reserve("in-flight", 100, MINUTE_S);
    await first.reserve("cancelled", 50, MINUTE_S);
    await first.void("cancelled");
    await first.close();

    const reopened = openFile({ budgetUsertokens: 1_000 });
    expect(await reopened.balance()).toEqual({
      budgetUsertokens: 1_000,
      postedUsertokens: 250,
      pendingUsertokens: 100,
      remainingUsertokens: 650,
    });
    expect(await reopened.holdState("done")).toBe("posted");
    expect(await reopened.holdState("in-flight")).toBe("pending");
    expect(await reopened.holdState("cancelled")).toBe("voided");
    const retried = await reopened.post("done", 300);
    expect(retried.postedUsertokens).toBe(posted.postedUsertokens);
    expect(retried.shortfallUsertokens).toBe(posted.shortfallUsertokens);
    await expect(reopened.post("cancelled", 10)).rejects.toBeInstanceOf(HoldStateError);
    expect((await reopened.balance()).postedUsertokens).toBe(250);
  });

  it("changes the budget but keeps what was spent when reopened with a new budget", async () => {
    const first = openFile({ budgetUsertokens: 1_000 });
    await first.reserve("h1", 400, MINUTE_S);
    await first.post("h1", 400);
    await first.close();

    const reopened = openFile({ budgetUsertokens: 2_000 });
    expect(await reopened.balance()).toEqual({
      budgetUsertokens: 2_000,
      postedUsertokens: 400,
      pendingUsertokens: 0,
      remainingUsertokens: 1_600,
    });
  });

  it("keeps the stored budget when opened without one", async () => {
    const first = openFile({ budgetUsertokens: 1_234 });
    await first.reserve("h1", 34, MINUTE_S);
    await first.post("h1", 34);
    await first.close();

    const readOnly = openFile();
    expect(await readOnly.balance()).toMatchObject({ budgetUsertokens: 1_234, remainingUsertokens: 1_200 });
  });

  it("lets a hold left by a crashed process expire for the next one", async () => {
    const crashed = openFile({ budgetUsertokens: 1_000 });
    await crashed.reserve("lost", 900, MINUTE_S);
    await crashed.close();

    const next = openFile({ budgetUsertokens: 1_000 });
    await expect(next.reserve("h2", 200, MINUTE_S)).rejects.toBeInstanceOf(BudgetExceededError);
    clock.advanceMs(MINUTE_S * 1000);
    expect(await next.holdState("lost")).toBe("expired");
    await expect(next.reserve("h2", 200, MINUTE_S)).resolves.toMatchObject({ remainingUsertokens: 800 });
  });

  it("shares one budget between two ledgers open on the same file", async () => {
    const a = openFile({ budgetUsertokens: 1_000 });
    const b = openFile();
    await a.reserve("from-a", 600, MINUTE_S);
    await expect(b.reserve("from-b", 500, MINUTE_S)).rejects.toBeInstanceOf(BudgetExceededError);
    await b.reserve("from-a", 600, MINUTE_S);
    expect((await b.balance()).pendingUsertokens).toBe(600);
    await b.post("from-a", 450);
    expect(await a.balance()).toMatchObject({
      postedUsertokens: 450,
      pendingUsertokens: 0,
      remainingUsertokens: 550,
    });
  });

  it("refuses to open a file that is not a ledger with LedgerUnavailableError", () => {
    writeFileSync(ledgerPath(), "this is not a SQLite database, just some text long enough to have a header");
    expect(() => openFile({ budgetUsertokens: 1_000 })).toThrow(LedgerUnavailableError);
  });
});

describe("PostgresLedger on a shared server", () => {
  let clock: ManualClock;

  beforeAll(requirePostgres);
  afterAll(() => dropSchema(postgresSchema));
  beforeEach(() => {
    clock = new ManualClock();
  });

  function openWallet(walletId: string, options: { budgetUsertokens?: number; schema?: string } = {}) {
    return track(
      new PostgresLedger({
        url: TEST_POSTGRES_URL,
        schema: postgresSchema,
        walletId,
        clock: clock.now,
        ...options,
      }),
    );
  }

  it("keeps spend, holds and their results across closing and reopening", async () => {
    const walletId = nextWalletId();
    const first = openWallet(walletId, { budgetUsertokens: 1_000 });
    await first.reserve("done", 300, MINUTE_S);
    const posted = await first.post("done", 250);
    await first.reserve("in-flight", 100, MINUTE_S);
    await first.reserve("cancelled", 50, MINUTE_S);
    await first.void("cancelled");
    await first.close();

    const reopened = openWallet(walletId, { budgetUsertokens: 2_000 });
    expect(await reopened.balance()).toEqual({
      budgetUsertokens: 2_000,
      postedUsertokens: 250,
      pendingUsertokens: 100,
      remainingUsertokens: 1_650,
    });
    expect(await reopened.holdState("cancelled")).toBe("voided");
    expect(await reopened.post("done", 300)).toMatchObject({
      postedUsertokens: posted.postedUsertokens,
      shortfallUsertokens: posted.shortfallUsertokens,
    });
  });

  it("keeps the stored budget when opened without one", async () => {
    const walletId = nextWalletId();
    const first = openWallet(walletId, { budgetUsertokens: 1_234 });
    await first.reserve("h1", 34, MINUTE_S);
    await first.post("h1", 34);
    await first.close();

    const readOnly = openWallet(walletId);
    expect(await readOnly.balance()).toMatchObject({ budgetUsertokens: 1_234, remainingUsertokens: 1_200 });
  });

  it("shares one budget between ledgers on the same wallet and keeps other wallets apart", async () => {
    const walletId = nextWalletId();
    const a = openWallet(walletId, { budgetUsertokens: 1_000 });
    const b = openWallet(walletId);
    const other = openWallet(nextWalletId(), { budgetUsertokens: 1_000 });
    await a.reserve("h1", 600, MINUTE_S);
    await expect(b.reserve("h2", 500, MINUTE_S)).rejects.toBeInstanceOf(BudgetExceededError);
    await b.post("h1", 450);
    expect(await a.balance()).toMatchObject({ postedUsertokens: 450, remainingUsertokens: 550 });
    // The same hold id in another wallet is another hold.
    await expect(other.reserve("h1", 900, MINUTE_S)).resolves.toMatchObject({ remainingUsertokens: 100 });
  });

  it("refuses to reserve on a wallet that never had a budget, saying how to set one", async () => {
    const ledger = openWallet(nextWalletId());
    expect(await ledger.balance()).toMatchObject({ budgetUsertokens: 0, remainingUsertokens: 0 });
    const error = await ledger.reserve("h1", 0, MINUTE_S).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LedgerUnavailableError);
    expect((error as Error).message).toContain("budgetUsertokens");
  });

  it("runs withinCommit only once the post has committed, so its throw cannot undo the post", async () => {
    const ledger = openWallet(nextWalletId(), { budgetUsertokens: 1_000 });
    await ledger.reserve("h1", 400, MINUTE_S);
    const seen: PostResult[] = [];
    await expect(
      ledger.post("h1", 300, (result) => {
        seen.push(result);
        throw new Error("audit write failed");
      }),
    ).rejects.toThrow("audit write failed");
    expect(seen[0]?.postedUsertokens).toBe(300);
    expect(await ledger.holdState("h1")).toBe("posted");
    expect(await ledger.balance()).toMatchObject({ postedUsertokens: 300, pendingUsertokens: 0 });
    // A retry replays the committed post: nothing is posted twice.
    await expect(ledger.post("h1", 300)).resolves.toMatchObject({ postedUsertokens: 300 });
    expect((await ledger.balance()).postedUsertokens).toBe(300);
  });

  it("creates a fresh schema once when many ledgers open it at the same moment", async () => {
    const schema = uniqueSchemaName();
    try {
      const ledgers = Array.from({ length: 6 }, (_, i) =>
        openWallet(`w${i}`, { schema, budgetUsertokens: 100 * (i + 1) }),
      );
      const balances = await Promise.all(ledgers.map((ledger) => ledger.balance()));
      expect(balances.map((b) => b.budgetUsertokens)).toEqual([100, 200, 300, 400, 500, 600]);
      const versions = await queryTestServer<{ version: number }>(
        `SELECT version FROM "${schema}".usertrust_migrations ORDER BY version`,
      );
      // Every migration applied exactly once, however many ledgers raced to apply it.
      expect(versions.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
    } finally {
      for (const ledger of opened.splice(0)) await ledger.close();
      await dropSchema(schema);
    }
  });

  it("refuses a schema written by a newer usertrust instead of guessing at its tables", async () => {
    const schema = uniqueSchemaName();
    try {
      await openWallet("w", { schema, budgetUsertokens: 100 }).balance();
      await queryTestServer(`INSERT INTO "${schema}".usertrust_migrations (version) VALUES (999)`);
      const error = await openWallet("w", { schema })
        .balance()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(LedgerUnavailableError);
      expect((error as Error).message).toMatch(/version 999.*Upgrade usertrust/);
    } finally {
      for (const ledger of opened.splice(0)) await ledger.close();
      await dropSchema(schema);
    }
  });

  it("fails with LedgerUnavailableError naming the host but never the password when the server is unreachable", async () => {
    const ledger = track(
      new PostgresLedger({ url: "postgres://fleet:s3cret-pw@127.0.0.1:1/ledger", budgetUsertokens: 100 }),
    );
    const error = await ledger.reserve("h1", 10, MINUTE_S).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LedgerUnavailableError);
    const message = (error as Error).message;
    expect(message).toContain("127.0.0.1:1/ledger");
    expect(message).toContain("Check that the server is running");
    expect(message).not.toContain("s3cret-pw");
    // The next call tries again rather than replaying a stale failure or hanging.
    await expect(ledger.balance()).rejects.toBeInstanceOf(LedgerUnavailableError);
  });

  it.each(["", "1starts_with_digit", 'quote"d', "semi;colon", "x".repeat(64)])(
    "refuses the schema name %j before touching the server",
    (schema) => {
      expect(() => new PostgresLedger({ url: TEST_POSTGRES_URL, schema })).toThrow(RangeError);
    },
  );
});
