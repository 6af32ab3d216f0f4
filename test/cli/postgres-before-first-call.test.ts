import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresLedger } from "../../src/core/ledger/postgres-ledger.ts";
import {
  dropSchema,
  queryTestServer,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../support/postgres-test-server.ts";
import { cliInProcess } from "../support/run-cli.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * README "CLI": until a governed call has run, `budget` and `policy test` use the config's budget
 * with nothing spent, and `status` says there is no ledger yet (exit 2). On a PostgreSQL vault that
 * holds as on the embedded ledger: a wallet no governed call has created is "no ledger yet", not a
 * budget of 0 (which made the default policy's `zero-budget` rule deny every `policy test`), and
 * these read-only commands never create the schema on the fleet's database.
 */

const schema = uniqueSchemaName();

beforeAll(requirePostgres);
afterAll(() => dropSchema(schema));

async function schemaExists(): Promise<boolean> {
  const rows = await queryTestServer<{ found: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS found",
    [schema],
  );
  return rows[0]?.found === true;
}

describe("the CLI on a PostgreSQL vault before its first governed call", () => {
  it("decides `policy test` and reports `budget` with the config's budget, as on the embedded ledger", async () => {
    const sqliteVault = makeTempVault({ budget: 50_000 });
    const postgresVault = makeTempVault({
      budget: 50_000,
      ledger: { kind: "postgres", url: TEST_POSTGRES_URL, schema },
    });
    try {
      const test = ["policy", "test", "--model", "gpt-4o-mini", "--cost", "10", "--json"];
      const onSqlite = await cliInProcess(...test, "--vault-base", sqliteVault.base);
      expect(onSqlite.code, onSqlite.stderr).toBe(0);

      const onPostgres = await cliInProcess(...test, "--vault-base", postgresVault.base);
      const budget = await cliInProcess("budget", "--json", "--vault-base", postgresVault.base);
      const status = await cliInProcess("status", "--json", "--vault-base", postgresVault.base);
      expect({
        policyTest: { code: onPostgres.code, decision: JSON.parse(onPostgres.stdout).decision },
        budgetLimit: JSON.parse(budget.stdout).budgets[0].limitUsertokens,
        statusSaysBudget0: status.code === 0 && JSON.parse(status.stdout).budgetUsertokens === 0,
      }).toEqual({
        policyTest: { code: 0, decision: "allow" },
        budgetLimit: 50_000,
        statusSaysBudget0: false,
      });
      expect({ code: status.code, stderr: status.stderr }).toEqual({
        code: 2,
        stderr: expect.stringContaining(
          `the PostgreSQL ledger (schema "${schema}") holds no budget for this vault yet`,
        ),
      });
      expect(await schemaExists()).toBe(false);
    } finally {
      sqliteVault.cleanup();
      postgresVault.cleanup();
    }
  });

  it("reads the ledger's numbers once a governed process has given the wallet its budget", async () => {
    const vault = makeTempVault({
      budget: 50_000,
      ledger: { kind: "postgres", url: TEST_POSTGRES_URL, schema },
    });
    const governed = new PostgresLedger({ url: TEST_POSTGRES_URL, schema, budgetUsertokens: 40_000 });
    try {
      await governed.reserve("h1", 1_500, 60);
      await governed.post("h1", 1_000);

      const status = await cliInProcess("status", "--json", "--vault-base", vault.base);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({
        ledger: "postgres",
        budgetUsertokens: 40_000,
        postedUsertokens: 1_000,
        remainingUsertokens: 39_000,
      });
      const budget = await cliInProcess("budget", "--json", "--vault-base", vault.base);
      expect(JSON.parse(budget.stdout).budgets[0]).toMatchObject({
        limitUsertokens: 40_000,
        spentUsertokens: 1_000,
      });
    } finally {
      await governed.close();
      vault.cleanup();
    }
  });
});
