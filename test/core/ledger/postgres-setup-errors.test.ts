import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LedgerUnavailableError } from "../../../src/core/errors.ts";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";
import {
  dropSchema,
  queryTestServer,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../../support/postgres-test-server.ts";

/**
 * DESIGN "Errors": messages say what happened, why, and what to change. A server that was reached
 * but refused to create or upgrade the ledger's schema is not a network problem: the message says
 * the schema could not be set up, names it, and says how to fix it, instead of sending the user to
 * check that the server is running.
 */

const schema = uniqueSchemaName();

beforeAll(async () => {
  await requirePostgres();
  await queryTestServer(`CREATE SCHEMA "${schema}"`);
  await queryTestServer(`CREATE TABLE "${schema}".wallet (owner TEXT)`);
});
afterAll(() => dropSchema(schema));

describe("PostgreSQL ledger on a schema another application already uses", () => {
  it("says the schema could not be set up and how to fix it, not that the server cannot be reached", async () => {
    const ledger = new PostgresLedger({ url: TEST_POSTGRES_URL, schema, budgetUsertokens: 1_000 });
    try {
      const error = await ledger.balance().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(LedgerUnavailableError);
      const message = (error as Error).message;
      expect(message).toContain('relation "wallet" already exists');
      expect(message).not.toMatch(/Cannot reach|Check that the server is running/);
      expect(message).toContain(`Could not set up the PostgreSQL ledger in schema "${schema}"`);
      expect(message).toContain("give usertrust a schema of its own");

      // The failed upgrade left the schema as it was; once it is freed, the next call sets it up.
      expect(await queryTestServer(`SELECT * FROM "${schema}".wallet`)).toEqual([]);
      await queryTestServer(`DROP TABLE "${schema}".wallet`);
      await expect(ledger.balance()).resolves.toMatchObject({ budgetUsertokens: 1_000 });
    } finally {
      await ledger.close();
    }
  });
});
