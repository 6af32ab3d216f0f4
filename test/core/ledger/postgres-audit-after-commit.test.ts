import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../../src/adapters/trust.ts";
import { LedgerUnavailableError } from "../../../src/core/errors.ts";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../../support/openai-stand-in.ts";
import {
  dropSchema,
  queryTestServer,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../../support/postgres-test-server.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

/**
 * The ledger port's contract (ledger.ts, WithinCommit): `withinCommit` runs inside the post's atomic
 * step where the adapter can, otherwise right after it has committed. The engine's withinCommit
 * appends the `spend` audit event; on the PostgreSQL ledger it must never be written for a post
 * whose COMMIT failed (the spend is rolled back, the engine owes the cost and posts it before the
 * next call), or the chain would show a spend the ledger does not have, then the same spend twice.
 *
 * The commit failure is made deterministic with a deferred constraint trigger on the ledger's
 * wallet table that fails the COMMIT, once (a connection lost at COMMIT takes the same path).
 */

const schema = uniqueSchemaName();
let server: OpenAIStandIn;

beforeAll(async () => {
  await requirePostgres();
  await dropSchema(schema);
  server = await startOpenAIStandIn();
});
afterAll(async () => {
  await server.close();
  await dropSchema(schema);
});

const call = {
  model: "gpt-4o-mini",
  max_tokens: 1_000,
  messages: [{ role: "user" as const, content: "Classify this ticket." }],
};

interface Event {
  kind: string;
  data: { transferId?: string; costUsertokens?: number };
}

describe("PostgreSQL ledger: a post whose COMMIT fails", () => {
  it("audits the call's spend only once it is posted, and once however often the post is retried", async () => {
    server.setBehaviour({ promptTokens: 10, completionTokens: 1_000 });
    const vault = makeTempVault({
      budget: 1_000_000,
      ledger: { kind: "postgres", url: TEST_POSTGRES_URL, schema },
    });
    const client = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    try {
      await client.chat.completions.create(call); // creates the schema

      await queryTestServer(`CREATE SEQUENCE "${schema}".fail_commit`);
      await queryTestServer(`
        CREATE FUNCTION "${schema}".fail_commit_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF nextval('"${schema}".fail_commit') = 1 THEN
            RAISE EXCEPTION 'the commit fails (as when the server goes away at COMMIT)';
          END IF;
          RETURN NULL;
        END $$`);
      await queryTestServer(`
        CREATE CONSTRAINT TRIGGER fail_commit AFTER UPDATE OF posted ON "${schema}".wallet
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${schema}".fail_commit_once()`);

      const spendsOf = (transferId: string): number[] =>
        readFileSync(vault.paths.auditLog, "utf8")
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as Event)
          .filter((event) => event.kind === "spend" && event.data.transferId === transferId)
          .map((event) => event.data.costUsertokens as number);
      const postedOf = async (transferId: string): Promise<string | null | undefined> =>
        (
          await queryTestServer<{ posted: string | null }>(
            `SELECT posted FROM "${schema}".holds WHERE id = $1`,
            [transferId],
          )
        )[0]?.posted;

      const second = await client.chat.completions.create(call);
      expect(second.receipt.settled).toBe(false); // the COMMIT failed: the cost is owed
      const owed = second.receipt.transferId;
      const beforeRetry = { ledgerPosted: await postedOf(owed), auditedSpends: spendsOf(owed) };

      await client.chat.completions.create(call); // posts the owed cost first
      await client.destroy();
      const afterRetry = { ledgerPosted: await postedOf(owed), auditedSpends: spendsOf(owed) };

      const cost = second.receipt.cost;
      expect({ beforeRetry, afterRetry }).toEqual({
        // Nothing posted yet, so no spend on the chain yet (the settle_failed event says what happened).
        beforeRetry: { ledgerPosted: null, auditedSpends: [] },
        // Posted once, audited once.
        afterRetry: { ledgerPosted: String(cost), auditedSpends: [cost] },
      });
    } finally {
      await client.destroy().catch(() => undefined);
      vault.cleanup();
    }
  });
});

describe("PostgreSQL ledger: a void whose COMMIT fails", () => {
  it("runs withinCommit only for the void that commits", async () => {
    const voidSchema = uniqueSchemaName();
    const ledger = new PostgresLedger({
      url: TEST_POSTGRES_URL,
      schema: voidSchema,
      budgetUsertokens: 1_000,
    });
    try {
      await ledger.reserve("h1", 400, 60);
      await queryTestServer(`CREATE SEQUENCE "${voidSchema}".fail_commit`);
      await queryTestServer(`
        CREATE FUNCTION "${voidSchema}".fail_commit_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.state = 'voided' AND nextval('"${voidSchema}".fail_commit') = 1 THEN
            RAISE EXCEPTION 'the commit fails';
          END IF;
          RETURN NULL;
        END $$`);
      await queryTestServer(`
        CREATE CONSTRAINT TRIGGER fail_commit AFTER UPDATE OF state ON "${voidSchema}".holds
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${voidSchema}".fail_commit_once()`);
      let audited = 0;
      const audit = (): void => {
        audited += 1;
      };

      await expect(ledger.void("h1", audit)).rejects.toBeInstanceOf(LedgerUnavailableError);
      expect({ audited, state: await ledger.holdState("h1") }).toEqual({ audited: 0, state: "pending" });

      await expect(ledger.void("h1", audit)).resolves.toMatchObject({ pendingUsertokens: 0 });
      expect({ audited, state: await ledger.holdState("h1") }).toEqual({ audited: 1, state: "voided" });
    } finally {
      await ledger.close();
      await dropSchema(voidSchema);
    }
  });
});

describe("PostgreSQL ledger: a post whose commit landed but whose reply was lost", () => {
  it("runs withinCommit once, on the retry that replays it, with the numbers first posted", async () => {
    const lostSchema = uniqueSchemaName();
    const ledger = new PostgresLedger({
      url: TEST_POSTGRES_URL,
      schema: lostSchema,
      budgetUsertokens: 1_000,
    });
    try {
      await ledger.reserve("h1", 400, 60);
      // The first attempt committed; its caller saw only an error (the connection dropped before the reply).
      await queryTestServer(
        `SELECT * FROM "${lostSchema}".post_hold('default', 'h1', 300, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)`,
      );

      const seen: number[] = [];
      const replay = await ledger.post("h1", 350, (result) => seen.push(result.postedUsertokens));
      expect({ posted: replay.postedUsertokens, seen }).toEqual({ posted: 300, seen: [300] });
      expect((await ledger.balance()).postedUsertokens).toBe(300);
    } finally {
      await ledger.close();
      await dropSchema(lostSchema);
    }
  });
});
