import { writeFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { chatRequestToGoverned } from "../../src/adapters/openai/chat-request.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { BudgetExceededError } from "../../src/core/errors.ts";
import type { Hold } from "../../src/core/hold.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type LedgerAdapter, ledgerAdapters } from "../support/ledger-adapters.ts";
import { KEEP_90K } from "../support/reserve-policy.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * Policy rules that read only the budget ("keep 90,000 UT in reserve", the default zero-budget
 * rule), through the engine on every ledger adapter.
 */

/** 400,000 output tokens of gpt-4o-mini ($0.60 per million) and the prompt: a hold of 2,401 UT. */
const CALL_BODY = {
  model: "gpt-4o-mini",
  messages: [{ role: "user" as const, content: "Say hello" }],
  max_tokens: 400_000,
};
const CALL = chatRequestToGoverned(CALL_BODY);
const HOLD_UT = 2_401;

/** An engine on a fresh vault (with `policy` as its default policy file) and a fresh store of `adapter`. */
function engines(adapter: LedgerAdapter) {
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(async () => adapter.setUp?.());
  afterAll(async () => adapter.tearDown?.());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return async (budget: number, policy?: string) => {
    const vault = makeTempVault({ budget });
    cleanups.push(vault.cleanup);
    if (policy !== undefined) writeFileSync(vault.paths.defaultPolicy, policy);
    const ledger = adapter.open({ budgetUsertokens: budget, clock: () => Date.now() });
    const engine = await createEngine({ vaultBase: vault.base, ledger });
    cleanups.push(() => engine.close());
    return { engine, ledger, events: () => readAuditLog(vault.paths.auditLog) };
  };
}

describe.each(ledgerAdapters())("budget-only rules on $name", (adapter) => {
  const engineWith = engines(adapter);

  it("a call the rule refuses leaves no hold behind, and the next call that fits goes ahead", async () => {
    const { engine, ledger } = await engineWith(100_000, KEEP_90K);
    // 4,000,000 output tokens: 24,001 UT held would leave 75,999, under the reserve.
    const big = chatRequestToGoverned({ ...CALL_BODY, max_tokens: 4_000_000 });
    await expect(engine.authorize(big)).rejects.toBeInstanceOf(BudgetExceededError);
    expect((await ledger.balance()).pendingUsertokens).toBe(0);
    const hold = await engine.authorize(CALL);
    const receipt = await hold.settleAtHold();
    expect(receipt.settled).toBe(true);
    expect((await ledger.balance()).postedUsertokens).toBe(HOLD_UT);
  });

  it("with a budget of 0 the default zero-budget rule is what refuses, and the audit names it", async () => {
    const { engine, events } = await engineWith(0);
    await expect(engine.authorize(CALL)).rejects.toBeInstanceOf(BudgetExceededError);
    const denial = events().find((event) => event.kind === "budget_exceeded");
    expect(denial?.data.rule).toBe("zero-budget");
  });
});

// TigerBeetle reads a wallet's numbers before its transfer, not as of it, so there these rules are
// judged on a read before the checks, which calls made at once share (README, "Ledgers").
const judgedAtReserve = ledgerAdapters().filter((adapter) => !adapter.name.startsWith("TigerBeetle"));

describe.each(judgedAtReserve)("budget-only rules judged as of the reserve on $name", (adapter) => {
  const engineWith = engines(adapter);

  it("calls authorized at once are each judged with the holds placed before them", async () => {
    const { engine, ledger, events } = await engineWith(100_000, KEEP_90K);
    const outcomes = await Promise.allSettled(Array.from({ length: 12 }, () => engine.authorize(CALL)));
    const holds = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    // 100,000 − 4 × 2,401 = 90,396 stays above the reserve; a fifth hold would leave 87,995.
    expect(holds).toHaveLength(4);
    const otherRefusals = outcomes.filter(
      (o) => o.status === "rejected" && !(o.reason instanceof BudgetExceededError),
    );
    expect(otherRefusals).toEqual([]);
    const denials = events().filter((event) => event.kind === "budget_exceeded");
    expect(denials).toHaveLength(8);
    for (const denial of denials) expect(denial.data.rule).toBe("keep-a-reserve");
    // Refused calls hold nothing; the granted ones hold exactly their own amount.
    expect((await ledger.balance()).pendingUsertokens).toBe(4 * HOLD_UT);
    await Promise.all(holds.map((hold: Hold) => hold.void("test done")));
    expect((await ledger.balance()).pendingUsertokens).toBe(0);
  });
});
