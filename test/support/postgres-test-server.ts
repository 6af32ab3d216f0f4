import { randomBytes } from "node:crypto";
import pg from "pg";

/** The PostgreSQL server the tests run against (trust auth); override with USERTRUST_TEST_POSTGRES_URL. */
export const TEST_POSTGRES_URL =
  process.env.USERTRUST_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const CHECK_TIMEOUT_MS = 2_000;

/** A schema name no other test run uses, so runs can share one server and drop what they made. */
export function uniqueSchemaName(): string {
  return `usertrust_test_${process.pid}_${randomBytes(4).toString("hex")}`;
}

/**
 * Fails fast and loudly when the test server is not there: the Postgres tests are part of the suite,
 * so an unreachable server must be a red run with a reason, never a silent skip.
 */
export async function requirePostgres(): Promise<void> {
  const client = new pg.Client({
    connectionString: TEST_POSTGRES_URL,
    connectionTimeoutMillis: CHECK_TIMEOUT_MS,
  });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    throw new Error(
      `The PostgreSQL test server at ${TEST_POSTGRES_URL} is unreachable (${(error as Error).message}). ` +
        "Start it (e.g. `pg_ctlcluster 15 main start`) or point USERTRUST_TEST_POSTGRES_URL at one.",
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs one query on its own short-lived connection, for setting up and inspecting what a test made. */
export async function queryTestServer<Row extends pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<Row[]> {
  const client = new pg.Client({
    connectionString: TEST_POSTGRES_URL,
    connectionTimeoutMillis: CHECK_TIMEOUT_MS,
  });
  await client.connect();
  try {
    return (await client.query<Row>(text, values)).rows;
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await queryTestServer(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
}
