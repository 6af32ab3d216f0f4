import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { budgetAlerts } from "../../../src/core/budgets/budget-alerts.ts";
import { BudgetExceededError } from "../../../src/core/errors.ts";
import type { Clock, Ledger } from "../../../src/core/ledger/ledger.ts";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";
import { SqliteLedger } from "../../../src/core/ledger/sqlite-ledger.ts";
import { TigerBeetleLedger } from "../../../src/core/ledger/tigerbeetle-ledger.ts";
import {
  dropSchema,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../../support/postgres-test-server.ts";
import { TigerBeetleModel } from "../../support/tigerbeetle-model.ts";

/**
 * Clocks disagree: hosts drift apart, and a host's clock can step back (an NTP correction). A hold
 * one step treated as expired must never be spent again as if it were live.
 */

const TIMEOUT_S = 30;
const opened: Ledger[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const ledger of opened.splice(0)) await ledger.close();
});

class ManualClock {
  nowMs = 1_700_000_000_000;
  readonly now: Clock = () => this.nowMs;
}

describe("SqliteLedger when the clock steps back", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "usertrust-clocks-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("never spends a hold's room twice: the hold a reserve stopped counting settles late, against what is free", async () => {
    const clock = new ManualClock();
    const ledger = new SqliteLedger({
      path: join(dir, "step-back.db"),
      budgetUsertokens: 100,
      clock: clock.now,
    });
    opened.push(ledger);
    await ledger.reserve("first", 100, TIMEOUT_S);
    clock.nowMs += (TIMEOUT_S + 1) * 1000;
    await ledger.reserve("second", 100, TIMEOUT_S); // "first" has expired: its room is given out again
    clock.nowMs -= 2_000; // the clock steps back to before "first" expired

    const first = await ledger.post("first", 100);
    const second = await ledger.post("second", 100);

    expect(first).toMatchObject({ lateSettle: true, postedUsertokens: 0, shortfallUsertokens: 100 });
    expect(second.postedUsertokens).toBe(100);
    expect((await ledger.balance()).postedUsertokens).toBe(100);
  });
});

describe("a hold a reserve marked expired, on its budget accounts", () => {
  let dir = "";
  const schema = uniqueSchemaName();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "usertrust-clocks-accounts-"));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
  });

  it.each([
    [
      "SqliteLedger",
      (clock: ManualClock) =>
        new SqliteLedger({ path: join(dir, "accounts.db"), budgetUsertokens: 1_000, clock: clock.now }),
    ],
    [
      "PostgresLedger",
      (clock: ManualClock) =>
        new PostgresLedger({
          url: TEST_POSTGRES_URL,
          schema,
          walletId: "accounts",
          budgetUsertokens: 1_000,
          clock: clock.now,
        }),
    ],
  ])(
    "%s: stops counting it there too, so its late settle takes what the account has free",
    async (_name, open) => {
      const clock = new ManualClock();
      const ledger = open(clock);
      opened.push(ledger);
      const team = { id: "team-a", limitUsertokens: 200 };
      await ledger.reserve("first", 100, TIMEOUT_S, [team]);
      clock.nowMs += (TIMEOUT_S + 1) * 1000;
      await ledger.reserve("second", 100, TIMEOUT_S, [team]); // marks "first" expired
      clock.nowMs -= 2_000; // the clock steps back to before "first" expired

      expect(await ledger.holdState("first")).toBe("expired");
      expect((await ledger.accountBalance(team.id))?.pendingUsertokens).toBe(100);
      const late = await ledger.post("first", 100);
      expect(late).toMatchObject({ lateSettle: true, postedUsertokens: 100, shortfallUsertokens: 0 });
      expect((await ledger.accountBalance(team.id))?.postedUsertokens).toBe(100);
    },
  );
});

describe("PostgresLedger on hosts whose clocks disagree", () => {
  const schema = uniqueSchemaName();
  beforeAll(requirePostgres);
  afterAll(() => dropSchema(schema));

  it("judges expiry by the database server's clock, so a host whose clock runs ahead cannot take a live hold's room", async () => {
    const hostA = new PostgresLedger({
      url: TEST_POSTGRES_URL,
      schema,
      walletId: "fleet",
      budgetUsertokens: 100,
    });
    const hostB = new PostgresLedger({ url: TEST_POSTGRES_URL, schema, walletId: "fleet" });
    opened.push(hostA, hostB);
    await hostA.reserve("a-call", 100, TIMEOUT_S);

    // This process's clock jumps an hour ahead; to its own clock, a-call expired long ago.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 3_600_000 });

    await expect(hostB.reserve("b-call", 100, TIMEOUT_S)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(await hostB.holdState("a-call")).toBe("pending");
    const posted = await hostA.post("a-call", 100);
    expect(posted).toMatchObject({ postedUsertokens: 100, lateSettle: false });
    expect((await hostB.balance()).postedUsertokens).toBe(100);
  });

  // The injected clock stands in for the server's: in production every step reads the server clock,
  // so this is what an NTP correction on the database host looks like.
  it.each([
    ["without budget accounts", []],
    ["on a budget account", [{ id: "team-a", limitUsertokens: 100 }]],
  ])("never spends a hold's room twice when the server clock steps back (%s)", async (_label, accounts) => {
    const clock = new ManualClock();
    const ledger = new PostgresLedger({
      url: TEST_POSTGRES_URL,
      schema,
      walletId: `step-back-${accounts.length}`,
      budgetUsertokens: 100,
      clock: clock.now,
    });
    opened.push(ledger);
    await ledger.reserve("first", 100, TIMEOUT_S, accounts);
    clock.nowMs += (TIMEOUT_S + 1) * 1000;
    await ledger.reserve("second", 100, TIMEOUT_S); // "first" has expired: its room is given out again
    clock.nowMs -= 2_000; // the clock steps back to before "first" expired

    expect(await ledger.holdState("first")).toBe("expired");
    const first = await ledger.post("first", 100);
    const second = await ledger.post("second", 100);

    expect(first).toMatchObject({ lateSettle: true, postedUsertokens: 0, shortfallUsertokens: 100 });
    expect(second.postedUsertokens).toBe(100);
    expect((await ledger.balance()).postedUsertokens).toBe(100);
  });

  it("voids a hold a reserve stopped counting, as it voids a pending one", async () => {
    const clock = new ManualClock();
    const ledger = new PostgresLedger({
      url: TEST_POSTGRES_URL,
      schema,
      walletId: "void-expired",
      budgetUsertokens: 100,
      clock: clock.now,
    });
    opened.push(ledger);
    await ledger.reserve("stale", 60, TIMEOUT_S);
    clock.nowMs += (TIMEOUT_S + 1) * 1000;
    await ledger.reserve("fresh", 60, TIMEOUT_S);
    clock.nowMs -= 2_000;

    await ledger.void("stale");
    expect(await ledger.holdState("stale")).toBe("voided");
    await expect(ledger.post("stale", 10)).rejects.toThrow(/voided/);
    expect((await ledger.balance()).pendingUsertokens).toBe(60);
  });

  it("never spends a shared budget account's room twice when the hold whose room was given out belongs to another wallet", async () => {
    const clock = new ManualClock();
    const team = { id: "team-a cross-wallet", limitUsertokens: 100 };
    const open = (walletId: string) =>
      new PostgresLedger({
        url: TEST_POSTGRES_URL,
        schema,
        walletId,
        budgetUsertokens: 1_000,
        clock: clock.now,
      });
    const hostA = open("cross-wallet-a");
    const hostB = open("cross-wallet-b");
    opened.push(hostA, hostB);

    await hostA.reserve("a-call", 100, TIMEOUT_S, [team]);
    clock.nowMs += (TIMEOUT_S + 1) * 1000;
    // a-call has expired: the account's room is given out again, to a hold of another wallet.
    await hostB.reserve("b-call", 100, TIMEOUT_S, [team]);
    clock.nowMs -= 2_000; // the server clock steps back to before a-call expired

    expect(await hostA.post("a-call", 100)).toMatchObject({ lateSettle: true, postedUsertokens: 0 });
    expect((await hostB.post("b-call", 100)).postedUsertokens).toBe(100);
    expect((await hostB.accountBalance(team.id))?.postedUsertokens).toBe(100);
  });

  it("refuses ids PostgreSQL cannot store as bad input (RangeError), not as an unreachable server", async () => {
    const ledger = new PostgresLedger({
      url: TEST_POSTGRES_URL,
      schema,
      walletId: "ids",
      budgetUsertokens: 100,
    });
    opened.push(ledger);
    await expect(ledger.reserve("call\u0000one", 10, TIMEOUT_S)).rejects.toBeInstanceOf(RangeError);
    await expect(ledger.reserve("call\ud800", 10, TIMEOUT_S)).rejects.toBeInstanceOf(RangeError);
    await expect(
      ledger.reserve("call-two", 10, TIMEOUT_S, [{ id: "team\u0000a", limitUsertokens: 50 }]),
    ).rejects.toBeInstanceOf(RangeError);
    expect((await ledger.balance()).pendingUsertokens).toBe(0);
  });
});

describe("scoped-budget alerts for a hold another process placed", () => {
  it("find the budget by the hold's account order when the ledger cannot name the accounts", async () => {
    const clock = new ManualClock();
    const cluster = new TigerBeetleModel(clock.now);
    const reserver = new TigerBeetleLedger({
      addresses: ["model"],
      clusterId: 0,
      client: cluster,
      clock: clock.now,
      budgetUsertokens: 1_000,
    });
    const settler = new TigerBeetleLedger({
      addresses: ["model"],
      clusterId: 0,
      client: cluster,
      clock: clock.now,
    });
    opened.push(reserver, settler);
    const account = { id: "team-a/** day 2026-12-04 UTC", limitUsertokens: 100 };
    await reserver.reserve("call", 90, TIMEOUT_S, [account]);

    const result = await settler.post("call", 90);

    const scoped = [
      {
        budget: { scope: "team-a/**", limit: 100, period: "day" as const, timeZone: "UTC", warnAt: [0.8] },
        period: { key: "2026-12-04", startsAtMs: undefined, endsAtMs: undefined },
        account,
      },
    ];
    const alerts = budgetAlerts(result, [], scoped);
    expect(alerts.crossings).toEqual([
      expect.objectContaining({ budget: `"${account.id}"`, threshold: 0.8 }),
    ]);
    expect(alerts.warnings).toEqual([expect.stringContaining("90 of 100 UT (90%)")]);
  });
});
