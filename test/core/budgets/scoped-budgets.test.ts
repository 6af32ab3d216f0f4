import { afterEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../../src/core/audit/audit-event.ts";
import { verifyChain } from "../../../src/core/audit/verify-chain.ts";
import type { TrustConfig } from "../../../src/core/config.ts";
import { createEngine } from "../../../src/core/create-engine.ts";
import type { Engine } from "../../../src/core/engine.ts";
import { BudgetExceededError } from "../../../src/core/errors.ts";
import type { GovernedRequest } from "../../../src/core/governed-request.ts";
import { makeUsage } from "../../../src/core/usage.ts";
import { readAuditLog } from "../../support/audit-log.ts";
import { usertrust } from "../../support/run-cli.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

/**
 * Scoped budgets end to end on a real SQLite vault: which calls each budget covers, all-or-nothing
 * holds, calendar resets in the budget's time zone, threshold warnings and `usertrust budget`.
 */

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** gpt-4o-mini: 100k output tokens = $0.06 = 600 UT; each hold is 601 UT (the prompt's estimate rounds up). */
const CALL_USAGE = makeUsage({ inputTokens: 0, outputTokens: 100_000 });
const CALL_UT = 600;

class ManualClock {
  nowMs: number;
  readonly now = (): number => this.nowMs;

  constructor(nowMs: number) {
    this.nowMs = nowMs;
  }
}

async function setUp(
  config: Partial<TrustConfig>,
  clock = new ManualClock(Date.parse("2026-12-04T10:00:00Z")),
) {
  const made = makeTempVault({ budget: 1_000_000, ...config });
  cleanups.push(made.cleanup);
  const engine = await createEngine({ vaultBase: made.base, clock: clock.now });
  cleanups.unshift(() => engine.close());
  return { ...made, engine, clock };
}

function request(scope: string[] | undefined): GovernedRequest {
  return {
    provider: "openai",
    model: "gpt-4o-mini",
    promptParts: ["Summarise the ticket"],
    // A hold covers the whole call.
    maxOutputTokens: 100_000,
    ...(scope === undefined ? {} : { scope }),
  };
}

/** One call that spends CALL_UT, returning its receipt. */
async function spend(engine: Engine, scope: string[] | undefined) {
  const hold = await engine.authorize(request(scope));
  return hold.settle(CALL_USAGE);
}

function eventsOf(path: string, kind: string): AuditEvent[] {
  return readAuditLog(path).filter((event) => event.kind === kind);
}

describe("scoped budgets", () => {
  it("hold a call against every budget whose scope matches, and leave other scopes alone", async () => {
    const { engine } = await setUp({
      budgets: [
        { scope: "team-a/**", limit: 5_000, period: "day", timeZone: "UTC", warnAt: [] },
        { scope: "**", limit: 50_000, period: "month", timeZone: "UTC", warnAt: [] },
      ],
    });
    const hold = await engine.authorize(request(["team-a/agent-1"]));
    const during = await engine.budgets();
    expect(during.find((line) => line.scope === "team-a/**")?.heldUsertokens).toBe(hold.terms.holdUsertokens);
    expect(during.find((line) => line.scope === "**")?.heldUsertokens).toBe(hold.terms.holdUsertokens);
    await hold.settle(CALL_USAGE);
    await spend(engine, ["team-b/agent-9"]);
    await spend(engine, undefined);

    const after = await engine.budgets();
    expect(after.find((line) => line.scope === "team-a/**")).toMatchObject({
      name: "team-a/** day 2026-12-04 UTC",
      spentUsertokens: CALL_UT,
      heldUsertokens: 0,
      remainingUsertokens: 5_000 - CALL_UT,
      periodKey: "2026-12-04",
      resetsAt: "2026-12-05T00:00:00.000Z",
    });
    expect(after.find((line) => line.scope === "**")?.spentUsertokens).toBe(3 * CALL_UT);
    expect(after.find((line) => line.name === "vault")?.spentUsertokens).toBe(3 * CALL_UT);
  });

  it("refuse a call when one matching budget is full, naming it, hold nothing on the others, and audit it", async () => {
    const { engine, paths } = await setUp({
      budgets: [
        { scope: "team-a/**", limit: 1_500, period: "day", timeZone: "UTC", warnAt: [] },
        { scope: "**", limit: 50_000, period: "none", timeZone: "UTC", warnAt: [] },
      ],
    });
    // Two calls spend 1,200 UT; a third needs a 601 UT hold and only 300 UT are left.
    await spend(engine, ["team-a/agent-1"]);
    await spend(engine, ["team-a/agent-2"]);
    const before = await engine.budgets();

    const refusal = await engine.authorize(request(["team-a/agent-1"])).catch((error: unknown) => error);

    expect(refusal).toBeInstanceOf(BudgetExceededError);
    expect((refusal as BudgetExceededError).account).toBe("team-a/** day 2026-12-04 UTC");
    expect((refusal as BudgetExceededError).message).toContain("team-a/** day 2026-12-04 UTC");
    expect(await engine.budgets()).toEqual(before);
    // Another team still gets through.
    await expect(spend(engine, ["team-b/agent-1"])).resolves.toMatchObject({ cost: CALL_UT });
    const denial = eventsOf(paths.auditLog, "budget_exceeded").at(-1);
    expect(denial?.data).toMatchObject({ budget: "team-a/** day 2026-12-04 UTC", scope: ["team-a/agent-1"] });
  });

  it("start each period from zero at midnight in the budget's own time zone", async () => {
    // 22:30 UTC on 4 Dec is already 5 Dec 07:30 in Tokyo, and still 4 Dec 14:30 in Los Angeles.
    const clock = new ManualClock(Date.parse("2026-12-04T14:00:00Z"));
    const { engine } = await setUp(
      {
        budgets: [
          { scope: "tokyo/**", limit: 1_000, period: "day", timeZone: "Asia/Tokyo", warnAt: [] },
          { scope: "la/**", limit: 1_000, period: "day", timeZone: "America/Los_Angeles", warnAt: [] },
        ],
      },
      clock,
    );
    await spend(engine, ["tokyo/bot"]);
    await spend(engine, ["la/bot"]);
    await expect(engine.authorize(request(["tokyo/bot"]))).rejects.toBeInstanceOf(BudgetExceededError);
    await expect(engine.authorize(request(["la/bot"]))).rejects.toBeInstanceOf(BudgetExceededError);

    clock.nowMs = Date.parse("2026-12-04T15:00:00Z"); // midnight has passed in Tokyo only
    await expect(spend(engine, ["tokyo/bot"])).resolves.toMatchObject({ cost: CALL_UT });
    await expect(engine.authorize(request(["la/bot"]))).rejects.toMatchObject({
      account: "la/** day 2026-12-04 America/Los_Angeles",
    });

    clock.nowMs = Date.parse("2026-12-05T08:00:00Z"); // 00:00 on 5 Dec in Los Angeles
    await expect(spend(engine, ["la/bot"])).resolves.toMatchObject({ cost: CALL_UT });
    const report = await engine.budgets();
    expect(report.find((line) => line.scope === "la/**")).toMatchObject({
      periodKey: "2026-12-05",
      spentUsertokens: CALL_UT,
      resetsAt: "2026-12-06T08:00:00.000Z",
    });
  });

  it("warn on every receipt past a threshold and audit each crossing once", async () => {
    const { engine, paths } = await setUp({
      budgets: [{ scope: "team-a/**", limit: 4_000, period: "week", timeZone: "UTC", warnAt: [0.5, 0.75] }],
    });
    const receipts = [];
    for (let call = 0; call < 6; call++) receipts.push(await spend(engine, ["team-a/bot"]));

    // Spent after each call: 600 (15%), 1,200 (30%), 1,800 (45%), 2,400 (60%), 3,000 (75%), 3,600 (90%).
    const budgetWarnings = receipts.map((receipt) =>
      receipt.warnings.filter((text) => text.includes("team-a/**")),
    );
    expect(budgetWarnings.map((list) => list.length)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(budgetWarnings[3]?.[0]).toContain("past its 50% warning");
    expect(budgetWarnings[4]?.[0]).toContain("past its 75% warning");
    expect(budgetWarnings[5]?.[0]).toContain("3600 of 4000 UT (90%)");

    const crossings = eventsOf(paths.auditLog, "budget_threshold");
    expect(crossings.map((event) => event.data.threshold)).toEqual([0.5, 0.75]);
    expect(crossings[0]?.data).toMatchObject({
      budget: '"team-a/** week 2026-W49 UTC"',
      scope: "team-a/**",
      period: "week",
      periodKey: "2026-W49",
      spentUsertokens: 2_400,
      limitUsertokens: 4_000,
    });
    expect(verifyChain(paths.auditLog, { headPath: paths.auditHead }).ok).toBe(true);
  });

  it("warn on the vault budget at its own thresholds (warnAt)", async () => {
    const { engine } = await setUp({ budget: 2_000, warnAt: [0.7] });
    await spend(engine, undefined);
    const second = await spend(engine, undefined);
    const third = await spend(engine, undefined);
    expect(second.warnings.some((text) => text.includes("budget of the vault"))).toBe(false);
    expect(third.warnings).toContainEqual(
      expect.stringContaining("budget of the vault has spent 1800 of 2000 UT"),
    );
  });
});

describe("`usertrust budget`", () => {
  it("shows each budget's limit, spent, held and remaining, as a table and as JSON", async () => {
    const { engine, base } = await setUp(
      {
        budget: 100_000,
        budgets: [
          { scope: "team-a/**", limit: 10_000, period: "month", timeZone: "Europe/Paris", warnAt: [0.8] },
        ],
      },
      new ManualClock(Date.now()),
    );
    await spend(engine, ["team-a/bot"]);
    const held = await engine.authorize(request(["team-a/bot"]));

    const json = await usertrust("budget", "--json", "--vault-base", base);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { budgets: Array<Record<string, unknown>> };
    expect(parsed.budgets).toHaveLength(2);
    expect(parsed.budgets[0]).toMatchObject({
      name: "vault",
      limitUsertokens: 100_000,
      spentUsertokens: CALL_UT,
    });
    expect(parsed.budgets[1]).toMatchObject({
      scope: "team-a/**",
      period: "month",
      timeZone: "Europe/Paris",
      limitUsertokens: 10_000,
      spentUsertokens: CALL_UT,
      heldUsertokens: held.terms.holdUsertokens,
      remainingUsertokens: 10_000 - CALL_UT - held.terms.holdUsertokens,
    });

    const table = await usertrust("budget", "--vault-base", base);
    expect(table.code).toBe(0);
    const row = table.stdout.split("\n").find((line) => line.includes("team-a/**"));
    expect(row).toContain("10,000");
    expect(row).toContain("600");
    expect(row).toContain("6%");
    await held.void("test done");
  });

  it("says when the numbers come from a memory ledger, which keeps nothing between runs", async () => {
    const made = makeTempVault({ budget: 5_000, ledger: { kind: "memory" } });
    cleanups.push(made.cleanup);
    const table = await usertrust("budget", "--vault-base", made.base);
    expect(table.stdout).toContain("memory ledger: nothing is kept between runs");
    const status = await usertrust("status", "--json", "--vault-base", made.base);
    expect(JSON.parse(status.stdout)).toMatchObject({ ledger: "memory", budgetUsertokens: 5_000 });
  });

  it("reads the config's budgets with nothing spent before the first call", async () => {
    const made = makeTempVault({
      budget: 5_000,
      budgets: [{ scope: "**", limit: 1_000, period: "day", timeZone: "UTC", warnAt: [] }],
    });
    cleanups.push(made.cleanup);
    const run = await usertrust("budget", "--json", "--vault-base", made.base);
    expect(run.code).toBe(0);
    const { budgets } = JSON.parse(run.stdout) as { budgets: Array<Record<string, unknown>> };
    expect(budgets.map((line) => [line.limitUsertokens, line.spentUsertokens])).toEqual([
      [5_000, 0],
      [1_000, 0],
    ]);
  });
});
