import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Ledger } from "../../src/core/ledger/ledger.ts";
import { PostgresLedger } from "../../src/core/ledger/postgres-ledger.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import {
  dropSchema,
  queryTestServer,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../support/postgres-test-server.ts";
import { killWorker, runWorkersTogether, type Worker } from "../support/worker-process.ts";
import type { SpenderOptions, SpenderSummary } from "../support/workers/ledger-spender.ts";

const SPENDER = fileURLToPath(new URL("../support/workers/ledger-spender.ts", import.meta.url));
const LEDGER_MODULE = new URL("../../src/core/ledger/postgres-ledger.ts", import.meta.url).href;
const WORKERS = 4;
const CALLS_PER_WORKER = 100;
const HOLD_USERTOKENS = 10;
const OVERRUN_USERTOKENS = 7;
const HOLDS_IN_BUDGET = 150;
const STARTUP_TIMEOUT_MS = 10_000;
const RUN_TIMEOUT_MS = 15_000;

const schema = uniqueSchemaName();
const workers: Worker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
});

interface SharedLedger {
  name: string;
  setUp(): Promise<void>;
  /** Opens the shared wallet; with a budget it sets it. */
  open(budgetUsertokens?: number): Ledger;
  where: Pick<SpenderOptions, "url" | "schema" | "walletId" | "sqlitePath">;
  /** Each hold state with its count and summed shortfall, as the store keeps them. */
  holdStates(): Promise<Array<{ state: string; holds: number; shortfall: string }>>;
  tearDown(): Promise<void>;
}

const walletId = "fleet";
const sqliteDir = mkdtempSync(join(tmpdir(), "usertrust-ledger-processes-"));
const sqlitePath = join(sqliteDir, "ledger.db");

const sharedLedgers: SharedLedger[] = [
  {
    name: "one PostgreSQL wallet",
    setUp: requirePostgres,
    open: (budgetUsertokens) =>
      new PostgresLedger({
        url: TEST_POSTGRES_URL,
        schema,
        walletId,
        ...(budgetUsertokens === undefined ? {} : { budgetUsertokens }),
      }),
    where: { url: TEST_POSTGRES_URL, schema, walletId },
    holdStates: () =>
      queryTestServer(
        `SELECT state, COUNT(*)::int AS holds, SUM(shortfall)::text AS shortfall FROM "${schema}".holds
         WHERE wallet_id = $1 GROUP BY state`,
        [walletId],
      ),
    tearDown: () => dropSchema(schema),
  },
  {
    name: "one SQLite ledger file",
    setUp: async () => {},
    open: (budgetUsertokens) =>
      new SqliteLedger({ path: sqlitePath, ...(budgetUsertokens === undefined ? {} : { budgetUsertokens }) }),
    where: { url: "", schema: "", walletId: "", sqlitePath },
    holdStates: async () => {
      const db = new DatabaseSync(sqlitePath, { readOnly: true });
      try {
        return db
          .prepare(
            "SELECT state, COUNT(*) AS holds, CAST(SUM(shortfall) AS TEXT) AS shortfall FROM holds GROUP BY state",
          )
          .all() as Array<{ state: string; holds: number; shortfall: string }>;
      } finally {
        db.close();
      }
    },
    tearDown: async () => rmSync(sqliteDir, { recursive: true, force: true }),
  },
];

describe.each(sharedLedgers)("four OS processes × 100 concurrent calls spending from $name", (shared) => {
  beforeAll(() => shared.setUp());
  afterAll(() => shared.tearDown());

  it("never overspend, post exactly what they report, and refuse the rest with BudgetExceededError", async () => {
    // Every call holds the same amount and posts all of it, so whatever the interleaving exactly
    // HOLDS_IN_BUDGET calls fit, and the half hold left over is never enough for another.
    const budget = HOLDS_IN_BUDGET * HOLD_USERTOKENS + HOLD_USERTOKENS / 2;
    const setup = shared.open(budget);
    await setup.balance();
    await setup.close();

    const summaries = await runWorkersTogether<SpenderSummary>(
      workers,
      SPENDER,
      Array.from(
        { length: WORKERS },
        (_, index): SpenderOptions => ({
          ...shared.where,
          actor: `worker-${index}`,
          calls: CALLS_PER_WORKER,
          holdUsertokens: HOLD_USERTOKENS,
          overrunUsertokens: OVERRUN_USERTOKENS,
        }),
      ),
      { startupMs: STARTUP_TIMEOUT_MS, runMs: RUN_TIMEOUT_MS },
    );

    const total = (pick: (summary: SpenderSummary) => number) =>
      summaries.reduce((sum, summary) => sum + pick(summary), 0);
    for (const summary of summaries) expect(summary.errors).toEqual([]);
    expect(total((s) => s.successes)).toBe(HOLDS_IN_BUDGET);
    expect(total((s) => s.refusals)).toBe(WORKERS * CALLS_PER_WORKER - HOLDS_IN_BUDGET);

    const reader = shared.open();
    const balance = await reader.balance();
    await reader.close();
    expect(balance.postedUsertokens + balance.pendingUsertokens).toBeLessThanOrEqual(budget);
    expect(balance.postedUsertokens).toBe(total((s) => s.postedUsertokens));
    expect(balance.postedUsertokens).toBe(HOLDS_IN_BUDGET * HOLD_USERTOKENS);
    expect(balance.pendingUsertokens).toBe(0);

    // Refused reserves leave no row; every granted one was posted once, its overrun cut to the hold.
    expect(await shared.holdStates()).toEqual([
      { state: "posted", holds: HOLDS_IN_BUDGET, shortfall: String(total((s) => s.shortfallUsertokens)) },
    ]);
  });
});

describe("without the pg package installed", () => {
  it("imports and constructs the ledger, then fails its first call with LedgerUnavailableError saying to install pg", async () => {
    // A fresh process whose module resolver cannot find `pg`, as in an install without the optional peer.
    const script = `
      import { registerHooks } from "node:module";
      registerHooks({
        resolve(specifier, context, next) {
          if (specifier === "pg") throw Object.assign(new Error("Cannot find package 'pg'"), { code: "ERR_MODULE_NOT_FOUND" });
          return next(specifier, context);
        },
      });
      const { PostgresLedger } = await import(${JSON.stringify(LEDGER_MODULE)});
      const ledger = new PostgresLedger({ url: "postgres://fleet@127.0.0.1:5432/ledger", budgetUsertokens: 100 });
      const error = await ledger.balance().then(() => undefined, (caught) => caught);
      console.log(JSON.stringify({ name: error?.name, code: error?.code, message: error?.message }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, [
      "--experimental-strip-types",
      "--no-warnings",
      "--input-type=module",
      "--eval",
      script,
    ]);
    const error = JSON.parse(stdout) as { name: string; code: string; message: string };
    expect(error.name).toBe("LedgerUnavailableError");
    expect(error.code).toBe("LEDGER_UNAVAILABLE");
    expect(error.message).toContain("npm install pg");
  });
});
