import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
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
import type { MixedOptions } from "../support/workers/mixed-spender.ts";

const SPENDER = fileURLToPath(new URL("../support/workers/mixed-spender.ts", import.meta.url));
const BUDGET = 1_500;
const ACCOUNTS = [
  { id: "acct-a", limitUsertokens: 800 },
  { id: "acct-b", limitUsertokens: 400 },
];
const workers: Worker[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  refusals: number;
  posts: number;
  voids: number;
  late: number;
  postedUsertokens: number;
  errors: string[];
}

function optionsFor(base: Partial<MixedOptions>): MixedOptions[] {
  return Array.from({ length: 4 }, (_, index) => ({
    actor: `w${index}`,
    calls: 80,
    accounts: ACCOUNTS,
    seed: 17 + index * 7919,
    slowTimeoutSeconds: 0.15,
    slowSleepMs: 200,
    ...base,
  }));
}

describe("four processes with voids, overruns and late settles on one budget", () => {
  it("SQLite: posted never exceeds the budget or any account limit, and the rows add up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "usertrust-mixed-"));
    dirs.push(dir);
    const path = join(dir, "ledger.db");
    const owner = new SqliteLedger({ path, budgetUsertokens: BUDGET });
    await owner.close();
    const summaries = await runWorkersTogether<Summary>(workers, SPENDER, optionsFor({ sqlitePath: path }), {
      startupMs: 10_000,
      runMs: 20_000,
    });
    expect(summaries.flatMap((s) => s.errors)).toEqual([]);
    expect(summaries.reduce((n, s) => n + s.late, 0)).toBeGreaterThan(0);
    expect(summaries.reduce((n, s) => n + s.refusals, 0)).toBeGreaterThan(0);
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const wallet = db.prepare("SELECT budget, posted FROM wallet").get() as {
        budget: number;
        posted: number;
      };
      const sumHolds = db
        .prepare("SELECT COALESCE(SUM(posted),0) AS s FROM holds WHERE state='posted'")
        .get() as { s: number };
      const accounts = db.prepare("SELECT id, limit_ut, posted FROM budget_accounts").all() as Array<{
        id: string;
        limit_ut: number;
        posted: number;
      }>;
      const pending = db
        .prepare("SELECT COUNT(*) AS n FROM holds WHERE state='pending' AND expires_at_ms > ?")
        .get(Date.now()) as { n: number };
      expect(wallet.posted).toBe(summaries.reduce((n, s) => n + s.postedUsertokens, 0));
      expect(wallet.posted).toBe(sumHolds.s);
      expect(wallet.posted).toBeLessThanOrEqual(BUDGET);
      for (const account of accounts) {
        const linked = db
          .prepare(
            "SELECT COALESCE(SUM(h.posted),0) AS s FROM holds h JOIN hold_accounts ha ON ha.hold = h.id WHERE ha.account = ? AND h.state='posted'",
          )
          .get(account.id) as { s: number };
        expect(account.posted, account.id).toBe(linked.s);
        expect(account.posted, account.id).toBeLessThanOrEqual(account.limit_ut);
      }
      expect(pending.n).toBe(0);
    } finally {
      db.close();
    }
  });

  it("PostgreSQL: posted never exceeds the budget or any account limit, and the rows add up", async () => {
    await requirePostgres();
    const schema = uniqueSchemaName();
    try {
      const owner = new PostgresLedger({ url: TEST_POSTGRES_URL, schema, budgetUsertokens: BUDGET });
      await owner.balance();
      await owner.close();
      const summaries = await runWorkersTogether<Summary>(
        workers,
        SPENDER,
        optionsFor({ url: TEST_POSTGRES_URL, schema, walletId: "default" }),
        { startupMs: 10_000, runMs: 20_000 },
      );
      expect(summaries.flatMap((s) => s.errors)).toEqual([]);
      expect(summaries.reduce((n, s) => n + s.late, 0)).toBeGreaterThan(0);
      const [wallet] = await queryTestServer<{ budget: string; posted: string }>(
        `SELECT budget, posted FROM "${schema}".wallet WHERE id = 'default'`,
      );
      const [sum] = await queryTestServer<{ s: string }>(
        `SELECT COALESCE(SUM(posted),0) AS s FROM "${schema}".holds WHERE state='posted'`,
      );
      expect(Number(wallet?.posted)).toBe(summaries.reduce((n, s) => n + s.postedUsertokens, 0));
      expect(Number(wallet?.posted)).toBe(Number(sum?.s));
      expect(Number(wallet?.posted)).toBeLessThanOrEqual(BUDGET);
      const accounts = await queryTestServer<{ id: string; spend_limit: string; posted: string }>(
        `SELECT id, spend_limit, posted FROM "${schema}".accounts`,
      );
      expect(accounts.length).toBe(2);
      for (const account of accounts) {
        const [linked] = await queryTestServer<{ s: string }>(
          `SELECT COALESCE(SUM(h.posted),0) AS s FROM "${schema}".holds h JOIN "${schema}".hold_accounts ha
             ON ha.hold_id = h.id AND ha.wallet_id = h.wallet_id WHERE ha.account_id = $1 AND h.state='posted'`,
          [account.id],
        );
        expect(Number(account.posted), account.id).toBe(Number(linked?.s));
        expect(Number(account.posted), account.id).toBeLessThanOrEqual(Number(account.spend_limit));
      }
    } finally {
      await dropSchema(schema);
    }
  });
});
