import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PostgresLedger } from "../../src/core/ledger/postgres-ledger.ts";
import {
  dropSchema,
  queryTestServer,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../support/postgres-test-server.ts";
import { killWorker, runWorkersTogether, type Worker } from "../support/worker-process.ts";
import type {
  AccountSpenderOptions,
  AccountSpenderSummary,
} from "../support/workers/postgres-account-spender.ts";

const SPENDER = fileURLToPath(new URL("../support/workers/postgres-account-spender.ts", import.meta.url));
const WORKERS = 4;
const CALLS_PER_WORKER = 50;
const HOLD_USERTOKENS = 10;
const OVERRUN_USERTOKENS = 3;
const VOID_EVERY = 5;
/** Room for 60 posted holds and half of another: far less than the 200 calls ask for. */
const ACCOUNT_LIMIT_USERTOKENS = 60 * HOLD_USERTOKENS + HOLD_USERTOKENS / 2;
/** Each process's own wallet never runs short, so every refusal is the shared account's. */
const WALLET_BUDGET_USERTOKENS = 1_000_000;
const STARTUP_TIMEOUT_MS = 10_000;
const RUN_TIMEOUT_MS = 15_000;

const schema = uniqueSchemaName();
const workers: Worker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
});

describe("four OS processes holding on one shared PostgreSQL budget account", () => {
  beforeAll(requirePostgres);
  afterAll(() => dropSchema(schema));

  it("never overspend the account, refuse with its id when it is full, and end every hold they place", async () => {
    const accountId = "team-a/** day 2026-12-04 (Europe/Paris)";
    const summaries = await runWorkersTogether<AccountSpenderSummary>(
      workers,
      SPENDER,
      Array.from(
        { length: WORKERS },
        (_, index): AccountSpenderOptions => ({
          url: TEST_POSTGRES_URL,
          schema,
          walletId: `host-${index}`,
          walletBudgetUsertokens: WALLET_BUDGET_USERTOKENS,
          accountId,
          accountLimitUsertokens: ACCOUNT_LIMIT_USERTOKENS,
          actor: `worker-${index}`,
          calls: CALLS_PER_WORKER,
          holdUsertokens: HOLD_USERTOKENS,
          overrunUsertokens: OVERRUN_USERTOKENS,
          voidEvery: VOID_EVERY,
        }),
      ),
      { startupMs: STARTUP_TIMEOUT_MS, runMs: RUN_TIMEOUT_MS },
    );

    const total = (pick: (summary: AccountSpenderSummary) => number) =>
      summaries.reduce((sum, summary) => sum + pick(summary), 0);
    for (const summary of summaries) {
      expect(summary.errors).toEqual([]);
      expect(summary.posts + summary.voids + summary.refusals).toBe(CALLS_PER_WORKER);
      expect(summary.accountUsedMaxUsertokens).toBeLessThanOrEqual(ACCOUNT_LIMIT_USERTOKENS);
    }
    const posts = total((s) => s.posts);
    const voids = total((s) => s.voids);
    expect(posts).toBeGreaterThan(0);
    expect(total((s) => s.refusals)).toBeGreaterThan(0);
    expect(total((s) => s.postedUsertokens)).toBe(posts * HOLD_USERTOKENS);
    expect(total((s) => s.shortfallUsertokens)).toBe(posts * OVERRUN_USERTOKENS);

    const reader = new PostgresLedger({ url: TEST_POSTGRES_URL, schema, walletId: "host-0" });
    try {
      const account = await reader.accountBalance(accountId);
      expect(account).toMatchObject({ budgetUsertokens: ACCOUNT_LIMIT_USERTOKENS, pendingUsertokens: 0 });
      expect(account?.postedUsertokens).toBe(posts * HOLD_USERTOKENS);
      expect(account?.postedUsertokens).toBeLessThanOrEqual(ACCOUNT_LIMIT_USERTOKENS);
    } finally {
      await reader.close();
    }

    // Each wallet took exactly what its own process posted, and nothing is left holding anywhere.
    const wallets = await queryTestServer<{ id: string; posted: string }>(
      `SELECT id, posted FROM "${schema}".wallet ORDER BY id`,
    );
    expect(wallets).toEqual(
      summaries.map((summary, index) => ({ id: `host-${index}`, posted: String(summary.postedUsertokens) })),
    );
    const holds = await queryTestServer<{ state: string; holds: number }>(
      `SELECT state, COUNT(*)::int AS holds FROM "${schema}".holds GROUP BY state ORDER BY state`,
    );
    expect(holds).toEqual([
      { state: "posted", holds: posts },
      { state: "voided", holds: voids },
    ]);
    const links = await queryTestServer<{ pending: boolean; holds: number }>(
      `SELECT pending, COUNT(*)::int AS holds FROM "${schema}".hold_accounts GROUP BY pending`,
    );
    expect(links).toEqual([{ pending: false, holds: posts + voids }]);
  });
});
