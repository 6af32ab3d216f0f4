import { afterEach, describe, expect, it } from "vitest";
import { calendarPeriod } from "../../../src/core/budgets/calendar-period.ts";
import {
  checkThresholds,
  type ScopedBudget,
  scopeMatches,
} from "../../../src/core/budgets/scoped-budgets.ts";
import { parseConfig, type TrustConfig } from "../../../src/core/config.ts";
import { createEngine } from "../../../src/core/create-engine.ts";
import { BudgetExceededError, ConfigError, InvalidScopeError } from "../../../src/core/errors.ts";
import type { GovernedRequest } from "../../../src/core/governed-request.ts";
import { makeBalance } from "../../../src/core/ledger/ledger.ts";
import { makeUsage } from "../../../src/core/usage.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

/** Edge cases of scoped budgets found in review: each one a way a budget could be missed or misread. */

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function engineOn(config: Partial<TrustConfig>) {
  const made = makeTempVault({ budget: 1_000_000, ...config });
  cleanups.push(made.cleanup);
  const engine = await createEngine({
    vaultBase: made.base,
    clock: () => Date.parse("2026-12-04T10:00:00Z"),
  });
  cleanups.unshift(() => engine.close());
  return engine;
}

function request(scope: string[]): GovernedRequest {
  return { provider: "openai", model: "gpt-4o-mini", promptParts: ["hi"], maxOutputTokens: 100_000, scope };
}

function budget(scope: string): ScopedBudget {
  return { scope, limit: 1_000, period: "none", timeZone: "UTC", warnAt: [] };
}

describe("scopes", () => {
  it('"**" covers every call, whatever its scope looks like', () => {
    for (const scope of ["..", ".", "team-a/../team-b", "#ops", ""]) {
      expect({ scope, matched: scopeMatches(budget("**"), [scope]) }).toEqual({ scope, matched: true });
    }
    expect(scopeMatches(budget("**"), undefined)).toBe(true);
  });

  it("a scope with a '.', '..' or empty segment is refused before anything is held, so it cannot slip past a budget", async () => {
    const engine = await engineOn({
      budgets: [{ scope: "team-a/**", limit: 700, period: "none", timeZone: "UTC", warnAt: [] }],
    });
    for (const scope of ["team-a/../x", "team-a/./bot", "team-a//bot", ""]) {
      await expect(engine.authorize(request([scope]))).rejects.toBeInstanceOf(InvalidScopeError);
    }
    expect((await engine.balance()).pendingUsertokens).toBe(0);
    // A plain scope under the budget is held against it as usual.
    const hold = await engine.authorize(request(["team-a/bot"]));
    await hold.settle(makeUsage({ inputTokens: 0, outputTokens: 100_000 }));
    await expect(engine.authorize(request(["team-a/bot"]))).rejects.toBeInstanceOf(BudgetExceededError);
  });

  it("a budget scope starting with '#' matches its calls, as a policy scopePattern does", () => {
    expect(scopeMatches(budget("#ops/**"), ["#ops/pager"])).toBe(true);
    expect(scopeMatches(budget("#ops/**"), ["ops/pager"])).toBe(false);
  });
});

describe("budgets in the config", () => {
  const FILE = "/vault/usertrust.config.json";

  it("refuse two budgets without a period for one scope, whatever their time zones (they would share an account)", () => {
    const text = JSON.stringify({
      budget: 1,
      budgets: [
        { scope: "team-a/**", limit: 10, timeZone: "UTC" },
        { scope: "team-a/**", limit: 10, timeZone: "Europe/Paris" },
      ],
    });
    expect(() => parseConfig(text, FILE)).toThrow(ConfigError);
    expect(() => parseConfig(text, FILE)).toThrow(/without a period; merge them/);
  });

  it("store time zones in their canonical spelling, so hosts writing 'utc' and 'UTC' share one period", () => {
    const config = parseConfig(
      JSON.stringify({ budget: 1, budgets: [{ scope: "a/**", limit: 5, period: "day", timeZone: "utc" }] }),
      FILE,
    );
    expect(config.budgets[0]?.timeZone).toBe("UTC");
  });
});

describe("periods where clocks jump at midnight", () => {
  it("start a day at its first local minute (America/Santiago, 2026-09-06 00:00 → 01:00)", () => {
    const saturday = calendarPeriod(Date.parse("2026-09-05T12:00:00Z"), "day", "America/Santiago");
    expect(saturday.key).toBe("2026-09-05");
    expect(new Date(saturday.endsAtMs ?? 0).toISOString()).toBe("2026-09-06T04:00:00.000Z");
    const sunday = calendarPeriod(Date.parse("2026-09-06T12:00:00Z"), "day", "America/Santiago");
    expect(new Date(sunday.startsAtMs ?? 0).toISOString()).toBe("2026-09-06T04:00:00.000Z");
  });

  it("never report a reset time in the past", () => {
    const now = Date.parse("2026-09-06T03:30:00Z"); // 23:30 on the 5th in Santiago
    const period = calendarPeriod(now, "day", "America/Santiago");
    expect(period.key).toBe("2026-09-05");
    expect(period.endsAtMs ?? 0).toBeGreaterThan(now);
  });
});

describe("warning thresholds", () => {
  it("are reached at exactly their share of the limit (7 of 100 UT for 0.07)", () => {
    const check = checkThresholds('"team-a/**"', [0.07], makeBalance(100, 7, 0), 7);
    expect(check.crossed).toEqual([0.07]);
    expect(check.warning).toContain("(7%), past its 7% warning");
  });

  it("say the whole percent spent, rounded down but never below the truth (29 of 100 is 29%)", () => {
    const check = checkThresholds('"team-a/**"', [0.29], makeBalance(100, 29, 0), 29);
    expect(check.warning).toContain("(29%)");
  });
});
