import { resolve } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  dropSchema,
  queryTestServer,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../support/postgres-test-server.ts";
import { killWorker, startWorker, type Worker } from "../support/worker-process.ts";

/**
 * README: "An unreachable server or cluster ends in LedgerUnavailableError"; DESIGN: every driver
 * error becomes a LedgerUnavailableError. When the server drops a connection in the middle of a
 * step (a restart, a failover, pg_terminate_backend, a network cut) the step must reject with it,
 * never end the process with an uncaught 'error' from the pg client: for an agent that would be the
 * loss of every call in flight. The pool listens for errors only on idle clients, so a client
 * checked out of it needs a listener of its own for as long as it is out.
 */

const WORKER = resolve(import.meta.dirname, "../support/workers/postgres-call-during-drop.ts");
/** The first key of the ledger's migration advisory lock ("utrs"), as postgres-migrations.ts takes it. */
const MIGRATION_LOCK_NAMESPACE = 0x75_74_72_73;
const schemas: string[] = [];
const workers: Worker[] = [];

beforeAll(requirePostgres);
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});
afterEach(async () => {
  for (const worker of workers.splice(0)) await killWorker(worker);
});

/** Polls `find` for the backend pid of the worker's step once it waits on a lock. */
async function waitingBackend(find: () => Promise<number | undefined>): Promise<number | undefined> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const pid = await find();
    if (pid !== undefined) return pid;
    await new Promise((done) => setTimeout(done, 25));
  }
  return undefined;
}

/**
 * Starts the worker for `step`, holds a lock its step needs with `block`, lets it go, ends its
 * connection once it waits (`find`), and returns how the worker ended.
 */
async function dropMidStep(
  step: "post" | "open",
  block: (blocker: pg.Client, schema: string) => Promise<void>,
  find: (schema: string) => Promise<number | undefined>,
) {
  const schema = uniqueSchemaName();
  schemas.push(schema);
  const worker = startWorker(workers, WORKER, [JSON.stringify({ url: TEST_POSTGRES_URL, schema, step })]);
  await worker.waitUntil(() => worker.lines.some((line) => line.includes('"ready"')), 15_000, "ready line");

  const blocker = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await blocker.connect();
  try {
    await block(blocker, schema);
    worker.child.stdin?.write("go\n");
    const pid = await waitingBackend(() => find(schema));
    expect(pid, `the ${step} never waited on the lock`).toBeDefined();
    await queryTestServer("SELECT pg_terminate_backend($1)", [pid]);
  } finally {
    await blocker.end().catch(() => undefined);
  }

  const exit = await worker.exited;
  const result = worker.lines.find((line) => line.includes('"result"'));
  return { exit, result, stderr: worker.stderr().split("\n").slice(0, 3).join("\n") };
}

const rejectedCleanly = {
  exit: { code: 0, signal: null },
  result: JSON.stringify({ type: "result", outcome: "error", error: "LedgerUnavailableError" }),
  stderr: "",
};

describe("PostgreSQL ledger: the server drops the connection in the middle of a step", () => {
  it("rejects the post with LedgerUnavailableError instead of crashing the process", async () => {
    const ended = await dropMidStep(
      "post",
      async (blocker, schema) => {
        // Hold the wallet row so the post waits inside its step.
        await blocker.query("BEGIN");
        await blocker.query(`SELECT 1 FROM "${schema}".wallet WHERE id = 'drop' FOR UPDATE`);
      },
      async (schema) =>
        (
          await queryTestServer<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity
               WHERE application_name = 'usertrust' AND wait_event_type = 'Lock' AND query LIKE $1`,
            [`%"${schema}".post_hold%`],
          )
        )[0]?.pid,
    );
    expect(ended).toEqual(rejectedCleanly);
  });

  it("rejects the first call with LedgerUnavailableError when the connection drops while the schema is created", async () => {
    const ended = await dropMidStep(
      "open",
      async (blocker, schema) => {
        // Another process's migration of this schema is in progress: the worker's waits for it.
        await blocker.query("SELECT pg_advisory_lock($1, hashtext($2))", [MIGRATION_LOCK_NAMESPACE, schema]);
      },
      async (schema) =>
        (
          await queryTestServer<{ pid: number }>(
            `SELECT pid FROM pg_locks
               WHERE locktype = 'advisory' AND NOT granted AND classid = $1
                 AND objid::bigint = (hashtext($2)::bigint + 4294967296) % 4294967296`,
            [MIGRATION_LOCK_NAMESPACE, schema],
          )
        )[0]?.pid,
    );
    expect(ended).toEqual(rejectedCleanly);
  });
});
