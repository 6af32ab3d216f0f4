import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { BudgetExceededError, ConfigError } from "../../src/core/errors.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import {
  dropSchema,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../support/postgres-test-server.ts";
import { usertrust } from "../support/run-cli.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * Two vaults stand for two hosts: each has its own audit chain, but both keep the money on one
 * PostgreSQL schema, so they draw on one budget and one set of scoped budgets.
 */

let server: OpenAIStandIn;
const schema = uniqueSchemaName();
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  await requirePostgres();
  server = await startOpenAIStandIn();
});
afterAll(async () => {
  await server.close();
  await dropSchema(schema);
});
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function openai(): OpenAI {
  return new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
}

const call = {
  model: "gpt-4o-mini",
  max_tokens: 1_000,
  messages: [{ role: "user" as const, content: "Classify this ticket." }],
};

async function host(config: Parameters<typeof makeTempVault>[0]) {
  const vault = makeTempVault(config);
  cleanups.push(vault.cleanup);
  const client = await trust(openai(), { vaultBase: vault.base, scope: "team-a/support" });
  cleanups.push(() => client.destroy());
  return { vault, client };
}

describe("a PostgreSQL ledger shared by two hosts", () => {
  it("gives both hosts one budget and one scoped budget, refusing on whichever host runs out", async () => {
    const ledger = { kind: "postgres" as const, url: TEST_POSTGRES_URL, schema };
    const config = {
      budget: 1_000_000,
      ledger,
      budgets: [{ scope: "team-a/**", limit: 30, period: "day" as const, timeZone: "UTC", warnAt: [0.5] }],
    };
    // Each call holds and spends about 7 UT (1,000 output tokens at $0.60 per million), so a few fit in 30.
    server.setBehaviour({ promptTokens: 10, completionTokens: 1_000 });
    const a = await host(config);
    const b = await host(config);

    let granted = 0;
    let refusal: unknown;
    for (let turn = 0; turn < 40 && refusal === undefined; turn++) {
      const client = turn % 2 === 0 ? a.client : b.client;
      try {
        await client.chat.completions.create(call);
        granted += 1;
      } catch (error) {
        refusal = error;
      }
    }

    expect(granted).toBeGreaterThan(2);
    expect(refusal).toBeInstanceOf(BudgetExceededError);
    expect((refusal as BudgetExceededError).account).toMatch(/^team-a\/\*\* day \d{4}-\d\d-\d\d UTC$/);
    for (const vault of [a.vault, b.vault]) {
      const run = await usertrust("budget", "--json", "--vault-base", vault.base);
      expect(run.code, run.stderr).toBe(0);
      const { budgets } = JSON.parse(run.stdout) as { budgets: Array<Record<string, number | string>> };
      const team = budgets.find((line) => line.scope === "team-a/**");
      expect(team?.heldUsertokens).toBe(0);
      expect(Number(team?.spentUsertokens)).toBeLessThanOrEqual(30);
      expect(budgets[0]?.spentUsertokens).toBe(team?.spentUsertokens);
      const status = await usertrust("status", "--json", "--vault-base", vault.base);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({
        budgetUsertokens: 1_000_000,
        postedUsertokens: team?.spentUsertokens,
        pendingUsertokens: 0,
      });
    }
  });

  it("is chosen per client with trust(client, { ledger }), overriding the vault's file", async () => {
    const vault = makeTempVault({ budget: 5_000 });
    cleanups.push(vault.cleanup);
    const client = await trust(openai(), {
      vaultBase: vault.base,
      ledger: { kind: "postgres", url: TEST_POSTGRES_URL, schema: `${schema}_override` },
    });
    cleanups.push(
      () => client.destroy(),
      () => dropSchema(`${schema}_override`),
    );
    const { receipt } = await client.chat.completions.create(call);
    expect(receipt.budgetRemaining).toBe(5_000 - receipt.cost);
  });

  it("fails with LedgerUnavailableError naming the host when the server cannot be reached, before any call", async () => {
    const vault = makeTempVault({ budget: 5_000 });
    cleanups.push(vault.cleanup);
    const client = await trust(openai(), {
      vaultBase: vault.base,
      ledger: { kind: "postgres", url: "postgres://postgres@127.0.0.1:1/test", schema },
    });
    cleanups.push(() => client.destroy());
    const sent = server.requests.length;
    const error = await client.chat.completions.create(call).catch((caught: unknown) => caught);
    expect((error as Error).name).toBe("LedgerUnavailableError");
    expect((error as Error).message).toContain("127.0.0.1:1");
    expect(server.requests.length).toBe(sent);
  });

  it("needs the cluster's addresses for a TigerBeetle ledger, and says where to put them", async () => {
    const vault = makeTempVault({ budget: 5_000 });
    cleanups.push(vault.cleanup);
    const error = await trust(openai(), { vaultBase: vault.base, ledger: { kind: "tigerbeetle" } }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("tigerbeetle.addresses");
  });
});
