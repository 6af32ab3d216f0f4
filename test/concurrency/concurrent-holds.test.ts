import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { chatRequestToGoverned } from "../../src/adapters/openai/chat-request.ts";
import { trust } from "../../src/adapters/trust.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { BudgetExceededError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import type { VaultPaths } from "../../src/core/vault.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type HoldSize, measureHold } from "../support/measure-hold.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

const MAX_TOKENS = 100_000;
const BODY = {
  model: "gpt-4o-mini",
  messages: [{ role: "user" as const, content: "hi" }],
  max_tokens: MAX_TOKENS,
};
const CALLS = 200;
const HOLDS_THAT_FIT = 20;
/** Calls start spread over this window so reserves, refusals and settles interleave. */
const START_SPREAD_MS = 400;

let server: OpenAIStandIn;
let hold: HoldSize;
const cleanups: Array<() => void | Promise<void>> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
  hold = await measureHold(chatRequestToGoverned(BODY));
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newVault(budget: number): VaultPaths & { base: string } {
  const vault = makeTempVault({ budget });
  cleanups.push(vault.cleanup);
  return { ...vault.paths, base: vault.base };
}

async function governedClient(vaultBase: string) {
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
  const client = await trust(openai, { vaultBase });
  cleanups.push(() => client.destroy());
  return client;
}

function holdStates(ledgerPath: string): Record<string, number> {
  const db = new DatabaseSync(ledgerPath, { readOnly: true });
  try {
    const rows = db.prepare("SELECT state, COUNT(*) AS n FROM holds GROUP BY state").all() as Array<{
      state: string;
      n: number;
    }>;
    return Object.fromEntries(rows.map((row) => [row.state, row.n]));
  } finally {
    db.close();
  }
}

/** Reads the ledger every millisecond while `work` runs and records any moment spent + held exceeded the budget. */
async function watchBudget<T>(ledgerPath: string, budget: number, work: Promise<T>) {
  const reader = new SqliteLedger({ path: ledgerPath });
  const overBudget: string[] = [];
  let samples = 0;
  let maxPendingUsertokens = 0;
  const timer = setInterval(() => {
    void reader.balance().then((b) => {
      samples++;
      maxPendingUsertokens = Math.max(maxPendingUsertokens, b.pendingUsertokens);
      if (b.postedUsertokens + b.pendingUsertokens > budget) overBudget.push(JSON.stringify(b));
    });
  }, 1);
  try {
    return { result: await work, overBudget, samples, maxPendingUsertokens };
  } finally {
    clearInterval(timer);
    await reader.close();
  }
}

describe("concurrent governed calls in one process", () => {
  it("never spends or holds above the budget across 200 overlapping calls, and refuses the rest with BudgetExceededError", async () => {
    const holdUsertokens = hold.holdUsertokens;
    const budget = HOLDS_THAT_FIT * holdUsertokens + Math.floor(holdUsertokens / 2);
    const vault = newVault(budget);
    const client = await governedClient(vault.base);
    // Each call really costs about half its hold, so settled calls free budget that later calls can hold.
    server.setBehaviour({
      delayMs: 20,
      promptTokens: hold.inputTokensEstimate,
      completionTokens: MAX_TOKENS / 2,
    });
    const chatRequestsBefore = server.requests.length;

    const calls = Array.from({ length: CALLS }, async (_, index) => {
      await sleep(Math.floor((index * START_SPREAD_MS) / CALLS));
      return client.chat.completions.create(BODY);
    });
    const watched = await watchBudget(vault.ledger, budget, Promise.allSettled(calls));

    const receipts: TrustReceipt[] = [];
    const refusals: unknown[] = [];
    for (const outcome of watched.result) {
      if (outcome.status === "fulfilled") receipts.push(outcome.value.receipt);
      else refusals.push(outcome.reason);
    }
    expect(receipts.length + refusals.length).toBe(CALLS);
    for (const reason of refusals) {
      expect(reason).toBeInstanceOf(BudgetExceededError);
      expect((reason as BudgetExceededError).neededUsertokens).toBe(holdUsertokens);
    }
    // The first twenty reserves always fit; settles at half the hold let more through, but never all of them.
    expect(receipts.length).toBeGreaterThanOrEqual(HOLDS_THAT_FIT);
    expect(refusals.length).toBeGreaterThan(0);
    expect(server.requests.length - chatRequestsBefore).toBe(receipts.length);

    expect(watched.samples).toBeGreaterThan(0);
    expect(watched.overBudget).toEqual([]);
    expect(watched.maxPendingUsertokens).toBeLessThanOrEqual(HOLDS_THAT_FIT * holdUsertokens);

    const reader = new SqliteLedger({ path: vault.ledger });
    const balance = await reader.balance();
    await reader.close();
    const spent = receipts.reduce((sum, receipt) => sum + receipt.cost, 0);
    expect(balance.budgetUsertokens).toBe(budget);
    expect(balance.postedUsertokens).toBe(spent);
    expect(balance.postedUsertokens).toBeLessThanOrEqual(budget);
    expect(balance.pendingUsertokens).toBe(0);
    expect(holdStates(vault.ledger)).toEqual({ posted: receipts.length });
    for (const receipt of receipts) {
      expect(receipt.settled).toBe(true);
      expect(receipt.cost).toBeLessThanOrEqual(holdUsertokens);
      expect(receipt.budgetRemaining).toBeGreaterThanOrEqual(0);
    }

    const events = readAuditLog(vault.auditLog);
    expect(events).toHaveLength(CALLS);
    expect(events.map((event) => event.sequence)).toEqual(Array.from({ length: CALLS }, (_, i) => i + 1));
    const spends = events.filter((event) => event.kind === "spend");
    const denials = events.filter((event) => event.kind === "budget_exceeded");
    expect(spends.length + denials.length).toBe(CALLS);
    expect(new Set(spends.map((event) => event.data.transferId))).toEqual(
      new Set(receipts.map((receipt) => receipt.transferId)),
    );
    expect(new Set(receipts.map((receipt) => receipt.auditHash)).size).toBe(receipts.length);
    expect(denials).toHaveLength(refusals.length);
    for (const denial of denials) expect(denial.data.neededUsertokens).toBe(holdUsertokens);

    const chain = verifyChain(vault.auditLog, { headPath: vault.auditHead });
    expect(chain.problem).toBeNull();
    expect(chain).toMatchObject({ ok: true, events: CALLS, lastSequence: CALLS });
  });

  it("shares one budget and one valid chain between two trust() clients on the same vault", async () => {
    const holdUsertokens = hold.holdUsertokens;
    const holdsThatFit = 10;
    const callsPerClient = 15;
    const budget = holdsThatFit * holdUsertokens;
    const vault = newVault(budget);
    const first = await governedClient(vault.base);
    const second = await governedClient(vault.base);
    // Each call costs exactly its hold, so exactly `holdsThatFit` calls can succeed whatever the interleaving;
    // two clients that each counted their own budget would let twice as many through.
    server.setBehaviour({
      delayMs: 20,
      promptTokens: hold.inputTokensEstimate,
      completionTokens: MAX_TOKENS,
    });

    const calls = Array.from({ length: callsPerClient * 2 }, async (_, index) => {
      await sleep(index % 5);
      const client = index % 2 === 0 ? first : second;
      const { receipt } = await client.chat.completions.create(BODY);
      return { client: index % 2, receipt };
    });
    const outcomes = await Promise.allSettled(calls);

    const succeeded = outcomes.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : []));
    const refused = outcomes.flatMap((outcome) =>
      outcome.status === "rejected" ? [outcome.reason as unknown] : [],
    );
    expect(succeeded).toHaveLength(holdsThatFit);
    expect(refused).toHaveLength(callsPerClient * 2 - holdsThatFit);
    for (const reason of refused) expect(reason).toBeInstanceOf(BudgetExceededError);
    for (const { receipt } of succeeded) expect(receipt.cost).toBe(holdUsertokens);
    expect(new Set(succeeded.map((s) => s.client))).toEqual(new Set([0, 1]));

    const reader = new SqliteLedger({ path: vault.ledger });
    expect(await reader.balance()).toEqual({
      budgetUsertokens: budget,
      postedUsertokens: budget,
      pendingUsertokens: 0,
      remainingUsertokens: 0,
    });
    await reader.close();

    const events = readAuditLog(vault.auditLog);
    expect(events.map((event) => event.sequence)).toEqual(
      Array.from({ length: callsPerClient * 2 }, (_, i) => i + 1),
    );
    expect(events.filter((event) => event.kind === "spend")).toHaveLength(holdsThatFit);
    expect(events.filter((event) => event.kind === "budget_exceeded")).toHaveLength(
      callsPerClient * 2 - holdsThatFit,
    );
    const chain = verifyChain(vault.auditLog, { headPath: vault.auditHead });
    expect(chain.problem).toBeNull();
    expect(chain.ok).toBe(true);
  });
});
