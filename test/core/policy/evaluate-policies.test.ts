import { describe, expect, it } from "vitest";
import {
  evaluatePolicies,
  PolicyLoadError,
  type PolicyRule,
  parsePolicyText,
  type TimeWindow,
} from "../../../src/core/policy/index.ts";

const NOW = new Date("2026-03-09T12:00:00Z");

function rule(name: string, overrides: Partial<PolicyRule> = {}): PolicyRule {
  return { name, effect: "warn", enforcement: "soft", conditions: [], ...overrides };
}

const hardDeny = (name: string, overrides: Partial<PolicyRule> = {}) =>
  rule(name, { effect: "deny", enforcement: "hard", ...overrides });

describe("decisions", () => {
  it("denies on a matched hard deny and allows with warnings on soft or warn rules", () => {
    const rules = [
      hardDeny("block-opus", { conditions: [{ field: "model", operator: "eq", value: "opus" }] }),
      rule("soft-deny", { effect: "deny", enforcement: "soft" }),
      rule("hard-warn", { effect: "warn", enforcement: "hard" }),
    ];
    const denied = evaluatePolicies(rules, { model: "opus" }, NOW);
    expect(denied.decision).toBe("deny");
    expect(denied.hardViolations.map((m) => m.rule)).toEqual(["block-opus"]);
    expect(denied.softViolations.map((m) => m.rule)).toEqual(["soft-deny", "hard-warn"]);
    expect(denied.hasWarnings).toBe(true);

    const allowed = evaluatePolicies(rules, { model: "haiku" }, NOW);
    expect(allowed).toMatchObject({ decision: "allow", hasWarnings: true, hardViolations: [] });
    expect(allowed.matched.map((m) => m.rule)).toEqual(["soft-deny", "hard-warn"]);
    expect(allowed.evaluatedAt).toBe("2026-03-09T12:00:00.000Z");
  });

  it("allows without warnings when nothing matches, and skips disabled rules", () => {
    const result = evaluatePolicies([hardDeny("off", { enabled: false })], { model: "x" }, NOW);
    expect(result).toEqual({
      decision: "allow",
      hasWarnings: false,
      matched: [],
      hardViolations: [],
      softViolations: [],
      reasons: [],
      evaluatedAt: NOW.toISOString(),
    });
  });

  it("reports severity, defaulting to medium", () => {
    const [withSeverity, without] = evaluatePolicies(
      [rule("a", { severity: "critical" }), rule("b")],
      {},
      NOW,
    ).matched;
    expect(withSeverity?.severity).toBe("critical");
    expect(without?.severity).toBe("medium");
  });

  it("lists matches by priority, lower first, ties in list order", () => {
    const rules = [
      rule("p100-first"),
      rule("p5", { priority: 5 }),
      rule("p100-second"),
      rule("p-1", { priority: -1 }),
    ];
    expect(evaluatePolicies(rules, {}, NOW).matched.map((m) => m.rule)).toEqual([
      "p-1",
      "p5",
      "p100-first",
      "p100-second",
    ]);
  });

  it("needs ALL conditions to match", () => {
    const both = rule("both", {
      conditions: [
        { field: "model", operator: "eq", value: "m" },
        { field: "estimatedCost", operator: "gt", value: 10 },
      ],
    });
    expect(evaluatePolicies([both], { model: "m", estimatedCost: 11 }, NOW).matched).toHaveLength(1);
    expect(evaluatePolicies([both], { model: "m", estimatedCost: 10 }, NOW).matched).toHaveLength(0);
    expect(evaluatePolicies([both], { model: "n", estimatedCost: 11 }, NOW).matched).toHaveLength(0);
  });
});

describe("failing closed", () => {
  it("a hard deny whose field is missing denies, unless another condition is plainly false", () => {
    const overBudget = hardDeny("over-budget", {
      conditions: [
        { field: "provider", operator: "eq", value: "openai" },
        { field: "budgetRemaining", operator: "lt", value: 0 },
      ],
    });
    expect(evaluatePolicies([overBudget], { provider: "openai" }, NOW).decision).toBe("deny");
    expect(evaluatePolicies([overBudget], { provider: "anthropic" }, NOW).decision).toBe("allow");
  });

  it("does not apply outside the rule's scope or time windows", () => {
    const scoped = hardDeny("prod-only", {
      conditions: [{ field: "budget", operator: "eq", value: 0 }],
      scopePatterns: ["production/**"],
    });
    expect(evaluatePolicies([scoped], { scope: ["staging/x"] }, NOW).decision).toBe("allow");
    expect(evaluatePolicies([scoped], { scope: ["production/x"] }, NOW).decision).toBe("deny");
  });

  it("never happens for warn or soft rules", () => {
    const rules = [
      rule("soft-deny", { effect: "deny", conditions: [{ field: "x", operator: "gt", value: 1 }] }),
      rule("hard-warn", { enforcement: "hard", conditions: [{ field: "x", operator: "gt", value: 1 }] }),
    ];
    expect(evaluatePolicies(rules, {}, NOW).matched).toEqual([]);
  });
});

describe("scope patterns", () => {
  const scoped = (patterns: string[]) => rule("scoped", { scopePatterns: patterns });
  const applies = (patterns: string[], scope: unknown) =>
    evaluatePolicies([scoped(patterns)], scope === undefined ? {} : { scope }, NOW).matched.length === 1;

  it("** reaches any depth, * one segment", () => {
    expect(applies(["production/**"], ["production/api"])).toBe(true);
    expect(applies(["production/**"], ["production/chat/v2"])).toBe(true);
    expect(applies(["staging/*"], ["staging/test"])).toBe(true);
    expect(applies(["staging/*"], ["staging/a/b"])).toBe(false);
    expect(applies(["staging/*"], ["production/test"])).toBe(false);
  });

  it("matches when ANY scope entry matches ANY pattern", () => {
    expect(applies(["staging/*", "production/*"], ["dev/x", "production/api"])).toBe(true);
    expect(applies(["staging/*", "production/*"], ["dev/x", "qa/y"])).toBe(false);
  });

  it("takes a single string scope, and never applies to a request without scope", () => {
    expect(applies(["production/*"], "production/api")).toBe(true);
    expect(applies(["**"], undefined)).toBe(false);
    expect(applies(["**"], [])).toBe(false);
    expect(applies(["production/*"], [5, "production/api"])).toBe(true);
  });

  it("supports braces and negation, and reports the matching scope", () => {
    expect(applies(["{production,staging}/api"], ["staging/api"])).toBe(true);
    expect(applies(["!staging/**"], ["production/api"])).toBe(true);
    expect(applies(["!staging/**"], ["staging/api"])).toBe(false);
    const [reason] = evaluatePolicies([scoped(["production/*"])], { scope: ["production/api"] }, NOW).reasons;
    expect(reason).toContain('scope "production/api" matches "production/*"');
  });
});

describe("time windows", () => {
  const windowed = (...timeWindows: TimeWindow[]) => rule("windowed", { timeWindows });
  const openAt = (iso: string, ...windows: TimeWindow[]) =>
    evaluatePolicies([windowed(...windows)], {}, new Date(iso)).matched.length === 1;

  it("follows daylight saving time in America/New_York (9–17 on weekdays)", () => {
    const office: TimeWindow = {
      daysOfWeek: [1, 2, 3, 4, 5],
      startHour: 9,
      endHour: 17,
      timeZone: "America/New_York",
    };
    // Friday 6 March 2026, EST (UTC−5): 13:30Z is 08:30, 14:30Z is 09:30.
    expect(openAt("2026-03-06T13:30:00Z", office)).toBe(false);
    expect(openAt("2026-03-06T14:30:00Z", office)).toBe(true);
    // Monday 9 March 2026, the day after clocks sprang forward (EDT, UTC−4): 13:30Z is already 09:30.
    expect(openAt("2026-03-09T13:30:00Z", office)).toBe(true);
    expect(openAt("2026-03-09T20:59:00Z", office)).toBe(true);
    expect(openAt("2026-03-09T21:00:00Z", office)).toBe(false);
    // Saturday 7 March, 12:00 local: the right hour, the wrong day.
    expect(openAt("2026-03-07T17:00:00Z", office)).toBe(false);
  });

  it("keeps an hour open twice on the night clocks fall back", () => {
    const oneAm: TimeWindow = { startHour: 1, endHour: 2, timeZone: "America/New_York" };
    // Sunday 1 November 2026: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    expect(openAt("2026-11-01T05:30:00Z", oneAm)).toBe(true);
    expect(openAt("2026-11-01T06:30:00Z", oneAm)).toBe(true);
    expect(openAt("2026-11-01T07:00:00Z", oneAm)).toBe(false);
  });

  it("wraps overnight windows past midnight across a DST change in Europe/Berlin", () => {
    const night: TimeWindow = { startHour: 22, endHour: 6, timeZone: "Europe/Berlin" };
    // Saturday 28 March 2026, CET (UTC+1).
    expect(openAt("2026-03-28T20:30:00Z", night)).toBe(false); // 21:30
    expect(openAt("2026-03-28T21:30:00Z", night)).toBe(true); // 22:30
    // Sunday 29 March: clocks spring forward at 02:00 CET to 03:00 CEST (UTC+2).
    expect(openAt("2026-03-29T03:30:00Z", night)).toBe(true); // 05:30 CEST
    expect(openAt("2026-03-29T04:30:00Z", night)).toBe(false); // 06:30 CEST (05:30 with a fixed +1)
  });

  it("counts an overnight window's early hours to the day it opened on", () => {
    const fridayNight: TimeWindow = { daysOfWeek: [5], startHour: 22, endHour: 6, timeZone: "Europe/Berlin" };
    expect(openAt("2026-03-27T21:30:00Z", fridayNight)).toBe(true); // Fri 22:30
    expect(openAt("2026-03-28T01:00:00Z", fridayNight)).toBe(true); // Sat 02:00, opened Friday
    expect(openAt("2026-03-27T04:00:00Z", fridayNight)).toBe(false); // Fri 05:00, opened Thursday
    expect(openAt("2026-03-28T21:30:00Z", fridayNight)).toBe(false); // Sat 22:30
  });

  it("applies while ANY window is open, and 0–24 means all day", () => {
    const utc = (startHour: number, endHour: number): TimeWindow => ({ startHour, endHour, timeZone: "UTC" });
    expect(openAt("2026-03-09T12:00:00Z", utc(0, 24))).toBe(true);
    expect(openAt("2026-03-09T23:59:59Z", utc(0, 24))).toBe(true);
    expect(openAt("2026-03-09T12:00:00Z", utc(1, 2), utc(12, 13))).toBe(true);
    expect(openAt("2026-03-09T12:00:00Z", utc(1, 2), utc(13, 14))).toBe(false);
  });

  it("uses the process's local zone when a window names none", () => {
    const now = new Date("2026-07-15T10:20:00Z");
    const hour = now.getHours();
    const local = (startHour: number, endHour: number): TimeWindow => ({ startHour, endHour });
    expect(openAt(now.toISOString(), local(hour, hour + 1))).toBe(true);
    expect(openAt(now.toISOString(), local((hour + 1) % 24, ((hour + 1) % 24) + 1))).toBe(false);
  });

  it("names the open window in the reason", () => {
    const office: TimeWindow = {
      daysOfWeek: [1, 2, 3, 4, 5],
      startHour: 9,
      endHour: 17,
      timeZone: "America/New_York",
    };
    const [reason] = evaluatePolicies([windowed(office)], {}, new Date("2026-03-09T14:00:00Z")).reasons;
    expect(reason).toContain("9:00–17:00 Mon,Tue,Wed,Thu,Fri (America/New_York)");
  });
});

describe("rules given in code", () => {
  it("are checked like a file's rules on first use", () => {
    const bad = rule("bad", { conditions: [{ field: "x", operator: "regex", value: "(a*)*b" }] });
    expect(() => evaluatePolicies([bad], {}, NOW)).toThrow(PolicyLoadError);
    const wrongValue = rule("bad2", { conditions: [{ field: "x", operator: "in", value: "a" }] });
    expect(() => evaluatePolicies([wrongValue], {}, NOW)).toThrow(/"in" needs a list/);
  });

  it("follow changes to the list itself between calls", () => {
    const rules: PolicyRule[] = [rule("first")];
    expect(evaluatePolicies(rules, {}, NOW).matched).toHaveLength(1);
    rules.push(hardDeny("added"));
    expect(evaluatePolicies(rules, {}, NOW).decision).toBe("deny");
    rules[1] = rule("replaced");
    expect(evaluatePolicies(rules, {}, NOW).matched.map((m) => m.rule)).toEqual(["first", "replaced"]);
  });

  it("decide the same as the same rules loaded from YAML", () => {
    const yaml = parsePolicyText(
      "- name: r\n  effect: deny\n  enforcement: hard\n  conditions:\n    - { field: model, operator: regex, value: '^gpt' }\n",
      "r.yml",
    );
    const code = [hardDeny("r", { conditions: [{ field: "model", operator: "regex", value: "^gpt" }] })];
    for (const model of ["gpt-4o", "claude"]) {
      expect(evaluatePolicies(code, { model }, NOW)).toEqual(evaluatePolicies(yaml, { model }, NOW));
    }
  });
});
