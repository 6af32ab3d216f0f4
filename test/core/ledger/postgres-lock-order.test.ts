import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LedgerUnavailableError } from "../../../src/core/errors.ts";
import type { Clock } from "../../../src/core/ledger/ledger.ts";
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
 * README "Ledgers for fleets": reserves lock the wallet row and budget-account rows "in a fixed
 * order, so processes never deadlock"; budget accounts are shared by every wallet of a schema.
 *
 * A reserve sweeps the expired holds it stops counting: its wallet's own and, on accounts, those of
 * any wallet on them. Before migration 4 a reserve on accounts swept its wallet's holds before
 * locking any account, while another wallet's reserve, already holding an account, swept those same
 * holds: two reserves took "hold row" and "account row" in opposite orders, a deadlock PostgreSQL
 * broke by failing one of them.
 */

const T0 = 1_700_000_000_000;
const schemas: string[] = [];

function freshSchema(): string {
  const schema = uniqueSchemaName();
  schemas.push(schema);
  return schema;
}

beforeAll(requirePostgres);
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

/** Waits until `count` usertrust sessions run `fn` on `schema` and wait on a row lock. */
async function waitersOnLock(schema: string, fn: string, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const rows = await queryTestServer<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
         WHERE application_name = 'usertrust' AND wait_event_type = 'Lock' AND query LIKE $1`,
      [`%"${schema}".${fn}%`],
    );
    if (Number(rows[0]?.n) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`fewer than ${count} ${fn} calls waiting on a lock`);
}

/**
 * Wallet b's hold on the shared account has expired; wallet a's reserve holds the shared account and
 * waits for the other one (held by a third session) while wallet b's reserve on the shared account
 * starts: both sweep b's expired hold. Resolves with how each reserve ended.
 */
async function reservesSweepingOneHold(schema: string): Promise<{ a: string; b: string }> {
  let now = T0;
  const clock: Clock = () => now;
  const open = (walletId: string) =>
    new PostgresLedger({ url: TEST_POSTGRES_URL, schema, walletId, budgetUsertokens: 10_000, clock });
  const walletA = open("a");
  const walletB = open("b");
  const shared = { id: "acct-a team/** day", limitUsertokens: 10_000 };
  const other = { id: "acct-b org/** day", limitUsertokens: 10_000 };
  const blocker = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  const outcome = (reserve: Promise<unknown>) =>
    reserve.then(
      () => "ok",
      (error: unknown) => String(error),
    );
  try {
    // Wallet b holds on the shared account; the hold expires (its process crashed).
    await walletB.reserve("crashed", 10, 1, [shared]);
    await walletA.reserve("seed", 1, 3600, [other]);
    now = T0 + 60_000;

    // Another process's step holds the second account's row for a moment.
    await blocker.connect();
    await blocker.query("BEGIN");
    await blocker.query(`SELECT 1 FROM "${schema}".accounts WHERE id = $1 FOR UPDATE`, [other.id]);

    // Wallet a's reserve locks the shared account, then waits for the other one.
    const settledA = outcome(walletA.reserve("a-1", 5, 60, [shared, other]));
    await waitersOnLock(schema, "reserve_hold_on_accounts", 1);
    // Wallet b's reserve waits for the shared account.
    const settledB = outcome(walletB.reserve("b-1", 5, 60, [shared]));
    await waitersOnLock(schema, "reserve_hold_on_accounts", 2);
    await blocker.query("COMMIT");

    return { a: await settledA, b: await settledB };
  } finally {
    await blocker.end().catch(() => undefined);
    await walletA.close();
    await walletB.close();
  }
}

describe("PostgreSQL ledger: reserves of wallets sharing budget accounts", () => {
  it("never deadlock when one wallet's expired hold is swept by both reserves", async () => {
    const schema = freshSchema();
    expect(await reservesSweepingOneHold(schema)).toEqual({ a: "ok", b: "ok" });
    const [crashed] = await queryTestServer<{ state: string }>(
      `SELECT state FROM "${schema}".holds WHERE wallet_id = 'b' AND id = 'crashed'`,
    );
    expect(crashed?.state).toBe("expired");
  });

  it("serve four wallets sharing budget accounts, with holds expiring, without failing a reserve", async () => {
    const schema = freshSchema();
    const accounts = ["a", "b", "c"].map((id) => ({ id: `team-${id}/** day`, limitUsertokens: 1_000_000 }));
    const wallets = [0, 1, 2, 3].map(
      (index) =>
        new PostgresLedger({
          url: TEST_POSTGRES_URL,
          schema,
          walletId: `w${index}`,
          budgetUsertokens: 1_000_000,
        }),
    );
    const failures = new Map<string, number>();
    let reserves = 0;
    try {
      await Promise.all(wallets.map((wallet) => wallet.balance()));
      const end = Date.now() + 6_000;
      const lane = async (wallet: PostgresLedger, name: string): Promise<void> => {
        for (let call = 0; Date.now() < end; call++) {
          const holdId = `${name}-${call}`;
          // Deterministic variety: which accounts, and whether the caller "crashes" (its hold expires).
          const listed = accounts.filter((_, index) => (call + index) % 3 !== 0);
          const crashes = call % 2 === 0;
          try {
            reserves++;
            await wallet.reserve(holdId, 5, crashes ? 0.05 : 30, listed);
            if (!crashes) await wallet.post(holdId, 4, () => undefined);
          } catch (error) {
            const key = `${(error as Error).name}: ${(error as Error).message.replace(/^.*failed: /, "").slice(0, 60)}`;
            failures.set(key, (failures.get(key) ?? 0) + 1);
          }
        }
      };
      await Promise.all(wallets.flatMap((wallet, w) => [0, 1, 2, 3].map((l) => lane(wallet, `w${w}l${l}`))));
    } finally {
      for (const wallet of wallets) await wallet.close();
    }
    expect(reserves).toBeGreaterThan(0);
    expect(Object.fromEntries(failures)).toEqual({});
  });

  it("upgrades a schema of the previous version in place, keeping its holds, and its reserves stop deadlocking", async () => {
    const schema = freshSchema();
    const quoted = quoteIdentifier(schema);
    const previous = MIGRATIONS.filter((migration) => migration.version < 4);
    // The schema exactly as the previous usertrust left it, with a hold posted and one in flight.
    await queryTestServer(
      `CREATE SCHEMA ${quoted};
       CREATE TABLE ${quoted}.usertrust_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
       ${previous.map((migration) => migration.sql(quoted)).join("\n")}
       INSERT INTO ${quoted}.usertrust_migrations (version) VALUES ${previous.map((m) => `(${m.version})`).join(", ")};
       INSERT INTO ${quoted}.wallet (id, budget) VALUES ('fleet', 1000);
       SELECT * FROM ${quoted}.reserve_hold('fleet', 'done', 300, ${T0}, ${T0 + 60_000});
       SELECT * FROM ${quoted}.post_hold('fleet', 'done', 250, ${T0});
       SELECT * FROM ${quoted}.reserve_hold_on_accounts(
         'fleet', 'in-flight', 200, ${T0}, ${T0 + 60_000}, ARRAY['team'], ARRAY[500]::bigint[]);`,
    );

    const ledger = new PostgresLedger({ url: TEST_POSTGRES_URL, schema, walletId: "fleet", clock: () => T0 });
    try {
      expect(await ledger.balance()).toEqual({
        budgetUsertokens: 1_000,
        postedUsertokens: 250,
        pendingUsertokens: 200,
        remainingUsertokens: 550,
      });
      expect(await ledger.accountBalance("team")).toMatchObject({ pendingUsertokens: 200 });
      await expect(ledger.post("in-flight", 150)).resolves.toMatchObject({ postedUsertokens: 150 });
    } finally {
      await ledger.close();
    }
    const versions = await queryTestServer<{ version: number }>(
      `SELECT version FROM ${quoted}.usertrust_migrations ORDER BY version`,
    );
    expect(versions.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));

    expect(await reservesSweepingOneHold(schema)).toEqual({ a: "ok", b: "ok" });
  });

  it("says a deadlock with a transaction outside usertrust rolled the step back, and to retry", async () => {
    const schema = freshSchema();
    const ledger = new PostgresLedger({
      url: TEST_POSTGRES_URL,
      schema,
      walletId: "w",
      budgetUsertokens: 1_000,
    });
    const outsider = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    try {
      await ledger.reserve("h1", 100, 60);
      await outsider.connect();
      // The outsider waits longer before checking for a deadlock, so the server breaks it in the post.
      await outsider.query("SET deadlock_timeout = '10s'");
      await outsider.query("BEGIN");
      await outsider.query(`SELECT 1 FROM "${schema}".holds WHERE id = 'h1' FOR UPDATE`);
      // The post locks the wallet, then waits for the hold the outsider holds ...
      const post = ledger.post("h1", 80).then(
        () => undefined,
        (error: unknown) => error,
      );
      await waitersOnLock(schema, "post_hold", 1);
      // ... which then wants the wallet: the two wait on each other.
      const outsiderWaits = outsider.query(`SELECT 1 FROM "${schema}".wallet WHERE id = 'w' FOR UPDATE`);
      const error = await post;
      await outsiderWaits;
      await outsider.query("ROLLBACK");

      expect(error).toBeInstanceOf(LedgerUnavailableError);
      expect((error as Error).message).toMatch(/rolled this step back: deadlock detected.*Retry the call/s);
      expect(await ledger.holdState("h1")).toBe("pending");
      await expect(ledger.post("h1", 80)).resolves.toMatchObject({ postedUsertokens: 80 });
    } finally {
      await outsider.end().catch(() => undefined);
      await ledger.close();
    }
  });
});
