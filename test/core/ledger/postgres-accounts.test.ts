import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BudgetExceededError } from "../../../src/core/errors.ts";
import type { BudgetAccount, Clock } from "../../../src/core/ledger/ledger.ts";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";
import { MIGRATIONS, quoteIdentifier } from "../../../src/core/ledger/postgres-migrations.ts";
import {
  dropSchema,
  queryTestServer,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../../support/postgres-test-server.ts";

/**
 * Budget accounts on the PostgreSQL ledger beyond the shared suite: accounts shared by every wallet
 * of a schema, row locks that cannot deadlock, refusals that leave nothing behind, and a database
 * written before accounts existed upgrading in place.
 */

const MINUTE_S = 60;

class ManualClock {
  nowMs = 1_700_000_000_000;
  readonly now: Clock = () => this.nowMs;
}

const schema = uniqueSchemaName();
const opened: PostgresLedger[] = [];
let count = 0;

function nextId(prefix: string): string {
  count += 1;
  return `${prefix}-${count}`;
}

function account(limitUsertokens: number, label = "team"): BudgetAccount {
  return { id: `${nextId(label)}/** day 2026-12-04 (UTC)`, limitUsertokens };
}

afterEach(async () => {
  for (const ledger of opened.splice(0)) await ledger.close();
});

describe("PostgresLedger budget accounts", () => {
  let clock: ManualClock;

  beforeAll(requirePostgres);
  afterAll(() => dropSchema(schema));
  beforeEach(() => {
    clock = new ManualClock();
  });

  function openWallet(
    walletId: string,
    options: { budgetUsertokens?: number; schema?: string; url?: string; poolSize?: number } = {},
  ): PostgresLedger {
    const ledger = new PostgresLedger({
      url: TEST_POSTGRES_URL,
      schema,
      walletId,
      clock: clock.now,
      ...options,
    });
    opened.push(ledger);
    return ledger;
  }

  it("shares an account between every wallet of the schema, whatever its walletId", async () => {
    const team = account(500);
    const first = openWallet(nextId("wallet"), { budgetUsertokens: 10_000 });
    const second = openWallet(nextId("wallet"), { budgetUsertokens: 10_000 });
    await first.reserve("h1", 400, MINUTE_S, [team]);

    await expect(second.reserve("h1", 200, MINUTE_S, [team])).rejects.toMatchObject({
      account: team.id,
      remainingUsertokens: 100,
    });
    expect((await second.balance()).pendingUsertokens).toBe(0);

    await first.post("h1", 300);
    expect(await second.accountBalance(team.id)).toEqual({
      budgetUsertokens: 500,
      postedUsertokens: 300,
      pendingUsertokens: 0,
      remainingUsertokens: 200,
    });
    await second.reserve("h1", 200, MINUTE_S, [team]);
    expect((await first.accountBalance(team.id))?.remainingUsertokens).toBe(0);
  });

  it("gives a late settle only what holds of other wallets left free on the account", async () => {
    const team = account(1_000);
    const late = openWallet(nextId("wallet"), { budgetUsertokens: 10_000 });
    const other = openWallet(nextId("wallet"), { budgetUsertokens: 10_000 });
    await late.reserve("late", 600, 30, [team]);
    clock.nowMs += 31_000;
    await other.reserve("fresh", 700, MINUTE_S, [team]);

    const result = await late.post("late", 500);

    expect(result).toMatchObject({ lateSettle: true, postedUsertokens: 300, shortfallUsertokens: 200 });
    expect(result.accounts).toEqual([
      {
        id: team.id,
        balance: {
          budgetUsertokens: 1_000,
          postedUsertokens: 300,
          pendingUsertokens: 700,
          remainingUsertokens: 0,
        },
      },
    ]);
  });

  it("never deadlocks or overspends when processes list the same accounts in opposite orders", async () => {
    const a = account(300, "a");
    const b = account(300, "b");
    // Two pools stand in for two processes: each has its own connections contending for the rows.
    const ledgers = [
      openWallet(nextId("wallet"), { budgetUsertokens: 1_000_000, poolSize: 4 }),
      openWallet(nextId("wallet"), { budgetUsertokens: 1_000_000, poolSize: 4 }),
    ];
    const calls = ledgers.flatMap((ledger, which) =>
      Array.from({ length: 60 }, async (_, index) => {
        const holdId = `order-${which}-${index}`;
        const listed = index % 2 === 0 ? [a, b] : [b, a];
        try {
          await ledger.reserve(holdId, 10, MINUTE_S, listed);
        } catch (error) {
          if (error instanceof BudgetExceededError) return "refused";
          throw error;
        }
        await ledger.post(holdId, 10);
        return "posted";
      }),
    );

    const outcomes = await Promise.all(calls);

    expect(outcomes.filter((outcome) => outcome === "posted")).toHaveLength(30);
    for (const { id } of [a, b]) {
      expect(await ledgers[0]?.accountBalance(id)).toEqual({
        budgetUsertokens: 300,
        postedUsertokens: 300,
        pendingUsertokens: 0,
        remainingUsertokens: 0,
      });
    }
  });

  it("leaves no account it created and no limit it replaced when the hold is refused", async () => {
    const ledger = openWallet(nextId("wallet"), { budgetUsertokens: 10_000 });
    const tight = account(500, "tight");
    await ledger.reserve("first", 400, MINUTE_S, [tight]);
    const fresh = account(5_000, "fresh");

    await expect(
      ledger.reserve("second", 200, MINUTE_S, [fresh, { id: tight.id, limitUsertokens: 550 }]),
    ).rejects.toMatchObject({ account: tight.id, remainingUsertokens: 150 });

    expect(await ledger.accountBalance(fresh.id)).toBeUndefined();
    expect(await ledger.accountBalance(tight.id)).toMatchObject({
      budgetUsertokens: 500,
      pendingUsertokens: 400,
    });
    // The refused ids are free to use later: nothing of them was left behind.
    await ledger.reserve("second", 100, MINUTE_S, [fresh, tight]);
    expect((await ledger.accountBalance(fresh.id))?.pendingUsertokens).toBe(100);
  });

  it("keeps the first call's accounts when a reserve is retried with others", async () => {
    const ledger = openWallet(nextId("wallet"), { budgetUsertokens: 10_000 });
    const first = account(1_000, "first");
    const other = account(1_000, "other");
    await ledger.reserve("h1", 300, MINUTE_S, [first]);
    await ledger.reserve("h1", 500, MINUTE_S, [other]);

    expect(await ledger.accountBalance(other.id)).toBeUndefined();
    const result = await ledger.post("h1", 300);
    expect(result.accounts.map((posted) => posted.id)).toEqual([first.id]);
  });

  it("commits the accounts' post with the wallet's, or neither when the commit fails", async () => {
    const ledger = openWallet(nextId("wallet"), { budgetUsertokens: 10_000 });
    const team = account(1_000);
    await ledger.reserve("h1", 400, MINUTE_S, [team]);
    // The account's new posted sum makes the COMMIT fail, once: as when the server goes away at COMMIT.
    const quoted = quoteIdentifier(schema);
    await queryTestServer(`CREATE SEQUENCE ${quoted}.fail_commit_once`);
    await queryTestServer(`
      CREATE FUNCTION ${quoted}.fail_commit_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id = '${team.id}' AND nextval('${quoted}.fail_commit_once') = 1 THEN
          RAISE EXCEPTION 'the commit fails';
        END IF;
        RETURN NULL;
      END $$`);
    await queryTestServer(`
      CREATE CONSTRAINT TRIGGER fail_commit_once AFTER UPDATE OF posted ON ${quoted}.accounts
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${quoted}.fail_commit_once()`);
    try {
      const seen: number[] = [];
      await expect(ledger.post("h1", 300, (result) => seen.push(result.postedUsertokens))).rejects.toThrow(
        "the commit fails",
      );
      expect(seen).toEqual([]);
      expect(await ledger.accountBalance(team.id)).toMatchObject({
        postedUsertokens: 0,
        pendingUsertokens: 400,
      });
      expect(await ledger.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 400 });

      await expect(
        ledger.post("h1", 300, (result) => seen.push(result.postedUsertokens)),
      ).resolves.toMatchObject({ postedUsertokens: 300 });
      expect(seen).toEqual([300]);
      expect((await ledger.accountBalance(team.id))?.postedUsertokens).toBe(300);
      expect((await ledger.balance()).postedUsertokens).toBe(300);
    } finally {
      await queryTestServer(`DROP TRIGGER fail_commit_once ON ${quoted}.accounts`);
    }
  });

  it("refuses a malformed account list with RangeError before touching the server", async () => {
    // Nothing listens on port 1: reaching the server would fail with LedgerUnavailableError instead.
    const ledger = openWallet("unreachable", { url: "postgres://postgres@127.0.0.1:1/test" });
    const team = account(100);
    await expect(ledger.reserve("h1", 10, MINUTE_S, [team, team])).rejects.toThrow(/listed twice/);
    await expect(ledger.reserve("h1", 10, MINUTE_S, [{ id: "", limitUsertokens: 1 }])).rejects.toThrow(
      RangeError,
    );
    await expect(ledger.reserve("h1", 10, MINUTE_S, [{ id: "x", limitUsertokens: 1.5 }])).rejects.toThrow(
      RangeError,
    );
    const many = Array.from({ length: 33 }, () => account(100));
    await expect(ledger.reserve("h1", 10, MINUTE_S, many)).rejects.toThrow(/at most 32/);
  });

  it("upgrades a schema written before accounts existed in place, keeping its spend and holds in flight", async () => {
    const oldSchema = uniqueSchemaName();
    const quoted = quoteIdentifier(oldSchema);
    const firstMigration = MIGRATIONS.find((migration) => migration.version === 1);
    if (firstMigration === undefined) throw new Error("migration 1 is missing");
    const now = clock.nowMs;
    try {
      // The schema exactly as a usertrust without accounts left it, with one hold posted and one in flight.
      await queryTestServer(
        `CREATE SCHEMA ${quoted};
         CREATE TABLE ${quoted}.usertrust_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
         ${firstMigration.sql(quoted)}
         INSERT INTO ${quoted}.usertrust_migrations (version) VALUES (1);
         INSERT INTO ${quoted}.wallet (id, budget) VALUES ('fleet', 1000);
         SELECT * FROM ${quoted}.reserve_hold('fleet', 'done', 300, ${now}, ${now + 60_000});
         SELECT * FROM ${quoted}.post_hold('fleet', 'done', 250, ${now});
         SELECT * FROM ${quoted}.reserve_hold('fleet', 'in-flight', 200, ${now}, ${now + 60_000});`,
      );

      const ledger = openWallet("fleet", { schema: oldSchema });
      expect(await ledger.balance()).toEqual({
        budgetUsertokens: 1_000,
        postedUsertokens: 250,
        pendingUsertokens: 200,
        remainingUsertokens: 550,
      });
      const versions = await queryTestServer<{ version: number }>(
        `SELECT version FROM ${quoted}.usertrust_migrations ORDER BY version`,
      );
      expect(versions.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));

      await expect(ledger.post("done", 999)).resolves.toMatchObject({ postedUsertokens: 250, accounts: [] });
      await expect(ledger.post("in-flight", 150)).resolves.toMatchObject({
        postedUsertokens: 150,
        accounts: [],
      });
      const team = account(500);
      await ledger.reserve("new", 100, MINUTE_S, [team]);
      expect((await ledger.accountBalance(team.id))?.pendingUsertokens).toBe(100);
      expect((await ledger.balance()).remainingUsertokens).toBe(500);
    } finally {
      await dropSchema(oldSchema);
    }
  });
});
