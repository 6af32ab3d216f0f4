import { writeFileSync } from "node:fs";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import { BudgetExceededError, type TrustOpts, trust } from "../../src/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * Policy rules that read only budget fields are judged inside the reserve's atomic step, on the
 * wallet's numbers without the call's hold. Real openai SDK against the OpenAI stand-in, real vaults.
 */

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Vault = ReturnType<typeof makeTempVault>;

function newVault(policy: string, budget = 100_000): Vault {
  const vault = makeTempVault({ budget });
  cleanups.push(vault.cleanup);
  writeFileSync(vault.paths.defaultPolicy, policy);
  return vault;
}

async function governed(policy: string, opts: Omit<TrustOpts, "shape" | "vaultBase"> = {}) {
  const vault = newVault(policy);
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
  const client = await trust(openai, { vaultBase: vault.base, ...opts });
  cleanups.push(() => client.destroy());
  return { vault, client };
}

const ask = (content: string) => [{ role: "user" as const, content }];

async function pendingOn(vault: Vault): Promise<number> {
  const ledger = new SqliteLedger({ path: vault.paths.ledger });
  try {
    return (await ledger.balance()).pendingUsertokens;
  } finally {
    await ledger.close();
  }
}

describe("budget rules judged inside the reserve", () => {
  it("a budget rule with scopePatterns still applies to calls in its scope", async () => {
    const policy = `- name: production-keeps-a-reserve
  effect: deny
  enforcement: hard
  severity: high
  scopePatterns: ["production/**"]
  conditions:
    - field: budget_remaining_after
      operator: lt
      value: 98000
`;
    const { vault, client } = await governed(policy, { scope: "production/api" });
    const before = server.requests.length;
    // 2,401 UT held: 97,599 UT would remain, under the production reserve of 98,000.
    const outcome = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages: ask("Say hello"), max_tokens: 400_000 })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(outcome).toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    const kinds = readAuditLog(vault.paths.auditLog).map((event) => event.kind);
    expect(kinds).toEqual(["budget_exceeded"]);
    expect(await pendingOn(vault)).toBe(0);
  });

  it("a call refused by a budget rule does not make a concurrent call that fits in any order fail too", async () => {
    const policy = `- name: keep-a-reserve
  effect: deny
  enforcement: hard
  conditions:
    - field: budget_remaining_after
      operator: lt
      value: 90000
`;
    const { vault, client } = await governed(policy);
    // 24,001 UT held: refused by the rule whatever else happens (75,999 < 90,000).
    const big = client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: ask("Say hello"),
      max_tokens: 4_000_000,
    });
    // 2,401 UT held: 97,599 UT remain after it, above the reserve, in either order of the two
    // calls, since the big one never holds anything once judged.
    const small = client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: ask("Say hello"),
      max_tokens: 400_000,
    });
    const [bigOutcome, smallOutcome] = await Promise.allSettled([big, small]);
    expect(bigOutcome.status).toBe("rejected");
    expect(smallOutcome.status).toBe("fulfilled");
    expect(await pendingOn(vault)).toBe(0);
  });
});
