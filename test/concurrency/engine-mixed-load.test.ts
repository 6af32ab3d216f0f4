import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { BudgetExceededError, ClientDestroyedError } from "../../src/core/errors.ts";
import type { Hold } from "../../src/core/hold.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { makeTempVault } from "../support/temp-vault.ts";

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let seed = 12345;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}

const BUDGET = 20_000;
const TEAM_LIMIT = 6_000;

describe("one engine, many overlapping calls: sizes, refusals, voids, overruns, late settles, destroy()", () => {
  it("keeps posted within the vault budget and the scoped budget, ends every hold, and audits each call once", async () => {
    const vault = makeTempVault({
      budget: BUDGET,
      holdTimeoutSeconds: 1,
      budgets: [{ scope: "team/**", limit: TEAM_LIMIT, period: "none", warnAt: [0.8, 0.95] }] as never,
    });
    cleanups.push(vault.cleanup);
    let offsetMs = 0;
    const clock = (): number => Date.now() + offsetMs;
    const engine = await createEngine({ vaultBase: vault.base, clock });
    cleanups.push(() => engine.close());

    const authorized: Hold[] = [];
    const receipts: TrustReceipt[] = [];
    let refusals = 0;
    const otherErrors: unknown[] = [];
    let expireNow!: () => void;
    const expired = new Promise<void>((resolve) => {
      expireNow = resolve;
    });
    let destroyNow!: () => void;
    const destroyed = new Promise<void>((resolve) => {
      destroyNow = resolve;
    });

    async function call(index: number): Promise<void> {
      await sleep(Math.floor(random() * 200));
      const maxOutputTokens = 10_000 + Math.floor(random() * 190_000);
      const scoped = random() < 0.5;
      let hold: Hold;
      try {
        hold = await engine.authorize({
          provider: "openai",
          model: "gpt-4o-mini",
          promptParts: [`call ${index} `.repeat(1 + Math.floor(random() * 50))],
          maxOutputTokens,
          ...(scoped ? { scope: ["team/bot"] } : {}),
        });
      } catch (error) {
        if (error instanceof BudgetExceededError) refusals++;
        else if (!(error instanceof ClientDestroyedError)) otherErrors.push(error);
        return;
      }
      authorized.push(hold);
      const kind = random();
      const usage = {
        inputTokens: hold.terms.inputTokensEstimate,
        outputTokens: Math.floor(maxOutputTokens * random() * 1.5),
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
      };
      if (kind < 0.2) {
        await sleep(Math.floor(random() * 30));
        receipts.push(await hold.void("provider failed", "call_failed", "neutral"));
      } else if (kind < 0.35) {
        // slow: still running when its hold expires, settles late
        await expired;
        await sleep(Math.floor(random() * 30));
        receipts.push(await hold.settle(usage));
      } else if (kind < 0.45) {
        // still running when the client is destroyed
        await destroyed;
        await sleep(5);
        receipts.push(await hold.settle(usage));
      } else {
        await sleep(Math.floor(random() * 30));
        receipts.push(await hold.settle(usage));
      }
    }

    const calls = Array.from({ length: 200 }, (_, index) => call(index));
    await sleep(120);
    offsetMs += 1_500; // every hold placed so far has expired
    expireNow();
    await sleep(150);
    destroyNow();
    await engine.close();
    await Promise.all(calls);
    expect(otherErrors).toEqual([]);
    expect(refusals).toBeGreaterThan(0);
    expect(receipts.some((r) => r.warnings.some((w) => /late|expired/i.test(w)))).toBe(true);

    const db = new DatabaseSync(vault.paths.ledger, { readOnly: true });
    try {
      const wallet = db.prepare("SELECT budget, posted FROM wallet").get() as {
        budget: number;
        posted: number;
      };
      const states = db.prepare("SELECT state, COUNT(*) AS n FROM holds GROUP BY state").all();
      const pendingRows = db.prepare("SELECT COUNT(*) AS n FROM holds WHERE state = 'pending'").get() as {
        n: number;
      };
      const account = db.prepare("SELECT limit_ut, posted FROM budget_accounts").get() as
        | { limit_ut: number; posted: number }
        | undefined;
      expect(wallet.posted).toBeLessThanOrEqual(BUDGET);
      expect(account?.posted ?? 0).toBeLessThanOrEqual(TEAM_LIMIT);
      // every hold of a call that ended is posted or voided; the engine ended them all
      expect(pendingRows.n, JSON.stringify(states)).toBe(0);

      const events = readAuditLog(vault.paths.auditLog);
      const perHold = new Map<string, string[]>();
      for (const event of events) {
        const id = event.data.transferId as string | undefined;
        if (id !== undefined && ["spend", "call_failed", "hold_voided"].includes(event.kind))
          perHold.set(id, [...(perHold.get(id) ?? []), event.kind]);
      }
      for (const hold of authorized) expect(perHold.get(hold.transferId), hold.transferId).toHaveLength(1);
      expect(events.filter((e) => e.kind === "budget_exceeded")).toHaveLength(refusals);
      const postedInEvents = events
        .filter((e) => e.kind === "spend")
        .reduce((sum, e) => sum + (e.data.postedUsertokens as number), 0);
      expect(postedInEvents).toBe(wallet.posted);
      for (const event of events.filter((e) => e.kind === "spend")) {
        const cost = event.data.costUsertokens as number;
        expect(cost).toBe(
          (event.data.postedUsertokens as number) + (event.data.shortfallUsertokens as number),
        );
      }
      const chain = verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead });
      expect(chain.problem).toBeNull();
    } finally {
      db.close();
    }
  });
});
