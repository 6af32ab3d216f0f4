import { describe, expect, it } from "vitest";
import {
  evaluatePolicies,
  type FieldCondition,
  type FieldOperator,
  type PolicyContext,
  type PolicyRule,
} from "../../../src/core/policy/index.ts";

const NOW = new Date("2026-03-09T12:00:00Z");

interface OperatorCase {
  operator: FieldOperator;
  value?: unknown;
  /** Field values the condition must match. */
  matching: unknown[];
  /** Present field values it must not match. */
  nonMatching: unknown[];
  /** Present values of a type the operator cannot compare: a hard deny fails closed on them. */
  undecidable: unknown[];
}

/**
 * The truth table of the 12 operators, written out by hand. eq / neq / in / not_in compare a scalar
 * by strict equality (no coercion: "5" is not 5); on a list (`scope`, `tools`) eq / in match when
 * some element is one of the values, neq / not_in when some element is not (or the list is empty),
 * so a hard deny errs towards refusing; an object they cannot compare. Ordered and text operators
 * cannot compare other types.
 */
const TABLE: OperatorCase[] = [
  { operator: "exists", matching: ["x", 0, false, null, [], {}], nonMatching: [], undecidable: [] },
  { operator: "not_exists", matching: [], nonMatching: ["x", 0, false, null], undecidable: [] },
  {
    operator: "eq",
    value: "gpt-4o",
    matching: ["gpt-4o", ["gpt-4o"], ["claude-x", "gpt-4o"]],
    nonMatching: ["gpt-4o-mini", "GPT-4O", 5, null, [], ["gpt-4o-mini"], [["gpt-4o"]]],
    undecidable: [{ model: "gpt-4o" }],
  },
  { operator: "eq", value: 5, matching: [5], nonMatching: ["5", 5.5, true], undecidable: [] },
  { operator: "eq", value: null, matching: [null], nonMatching: [0, "", false], undecidable: [] },
  {
    operator: "neq",
    value: "test",
    matching: ["prod", 5, null, true, [], ["prod", "staging"], ["prod", "test"]],
    nonMatching: ["test", ["test"], ["test", "test"]],
    undecidable: [{}],
  },
  {
    operator: "gt",
    value: 1000,
    matching: [1001, 1e9],
    nonMatching: [1000, -1],
    undecidable: ["2000", true, null, Number.NaN],
  },
  { operator: "gte", value: 500, matching: [500, 501], nonMatching: [499.99], undecidable: ["500", [500]] },
  { operator: "lt", value: 100, matching: [99, -5], nonMatching: [100, 101], undecidable: [false, "1"] },
  { operator: "lte", value: 50, matching: [50, 0], nonMatching: [51], undecidable: [null, {}] },
  {
    operator: "in",
    value: ["gpt-4o", "gpt-4o-mini", 3],
    matching: ["gpt-4o", "gpt-4o-mini", 3, ["gpt-4o"], ["x", 3]],
    nonMatching: ["gpt-4", "3", null, [], ["gpt-4", "3"]],
    undecidable: [{ name: "gpt-4o" }],
  },
  {
    operator: "not_in",
    value: ["deprecated-model"],
    matching: ["fresh-model", 1, null, [], ["fresh-model"], ["deprecated-model", "fresh-model"]],
    nonMatching: ["deprecated-model", ["deprecated-model"]],
    undecidable: [{ model: "deprecated-model" }],
  },
  {
    operator: "contains",
    value: "password",
    matching: ["my password is", "password", ["x", "password"]],
    nonMatching: ["pass word", "PASSWORD", ["passwords"], []],
    undecidable: [42, null, { password: 1 }, true],
  },
  {
    operator: "regex",
    value: "^claude-.*",
    matching: ["claude-sonnet-4-6", "claude-"],
    nonMatching: ["gpt-4o", "a claude-x"],
    undecidable: [42, ["claude-x"], null],
  },
];

function conditionOf(entry: OperatorCase): FieldCondition {
  return entry.value === undefined
    ? { field: "subject", operator: entry.operator }
    : { field: "subject", operator: entry.operator, value: entry.value };
}

function ruleOf(entry: OperatorCase, kind: "soft-warn" | "hard-deny"): PolicyRule {
  return {
    name: `${entry.operator}-${kind}`,
    effect: kind === "hard-deny" ? "deny" : "warn",
    enforcement: kind === "hard-deny" ? "hard" : "soft",
    conditions: [conditionOf(entry)],
  };
}

function matches(rule: PolicyRule, context: PolicyContext): boolean {
  return evaluatePolicies([rule], context, NOW).matched.length === 1;
}

describe.each(TABLE)("operator $operator ($value)", (entry) => {
  const soft = ruleOf(entry, "soft-warn");
  const hard = ruleOf(entry, "hard-deny");

  it("matches the values it should", () => {
    for (const value of entry.matching) {
      expect(matches(soft, { subject: value }), JSON.stringify(value)).toBe(true);
      expect(matches(hard, { subject: value }), JSON.stringify(value)).toBe(true);
    }
  });

  it("does not match the values it should not", () => {
    for (const value of entry.nonMatching) {
      expect(matches(soft, { subject: value }), JSON.stringify(value)).toBe(false);
      expect(matches(hard, { subject: value }), JSON.stringify(value)).toBe(false);
    }
  });

  it("on a value of the wrong type: a soft rule does not match, a hard deny fails closed", () => {
    for (const value of entry.undecidable) {
      expect(matches(soft, { subject: value }), JSON.stringify(value)).toBe(false);
      const result = evaluatePolicies([hard], { subject: value }, NOW);
      expect(result.decision, JSON.stringify(value)).toBe("deny");
      expect(result.reasons[0]).toMatch(
        /`subject` is .* cannot compare, so this hard deny rule fails closed/,
      );
    }
  });

  it("on a missing field: exists / not_exists decide, others match only to fail a hard deny closed", () => {
    for (const context of [{}, { subject: undefined }, { other: 1 }]) {
      const expectMatch = entry.operator === "not_exists";
      expect(matches(soft, context)).toBe(expectMatch);
      const hardResult = evaluatePolicies([hard], context, NOW);
      if (entry.operator === "exists") expect(hardResult.decision).toBe("allow");
      else expect(hardResult.decision).toBe("deny");
      if (entry.operator !== "exists" && entry.operator !== "not_exists") {
        expect(hardResult.reasons[0]).toMatch(
          /field `subject` is missing from the request, so this hard deny rule fails closed/,
        );
      }
    }
  });
});

describe("field lookup", () => {
  const rule = (field: string, operator: FieldOperator, value?: unknown): PolicyRule => ({
    name: "r",
    effect: "warn",
    enforcement: "soft",
    conditions: [value === undefined ? { field, operator } : { field, operator, value }],
  });

  it("follows dot notation into objects and arrays", () => {
    const context = { metadata: { team: "search", owner: { id: 7 } }, tools: ["bash", "web"] };
    expect(matches(rule("metadata.team", "eq", "search"), context)).toBe(true);
    expect(matches(rule("metadata.owner.id", "gte", 7), context)).toBe(true);
    expect(matches(rule("tools.0", "eq", "bash"), context)).toBe(true);
    expect(matches(rule("tools.1", "eq", "web"), context)).toBe(true);
    expect(matches(rule("tools.2", "exists"), context)).toBe(false);
    expect(matches(rule("metadata.team.name", "exists"), context)).toBe(false);
    expect(matches(rule("tools", "contains", "web"), context)).toBe(true);
  });

  it("never finds inherited properties such as constructor or __proto__", () => {
    const context = { metadata: {} };
    expect(matches(rule("constructor", "exists"), context)).toBe(false);
    expect(matches(rule("metadata.constructor", "exists"), context)).toBe(false);
    expect(matches(rule("metadata.__proto__", "exists"), context)).toBe(false);
    expect(matches(rule("tools.length", "exists"), { tools: ["a"] })).toBe(true);
  });
});

describe("reasons", () => {
  it("name the rule and the values compared", () => {
    const result = evaluatePolicies(
      [
        {
          name: "costly-opus",
          effect: "warn",
          enforcement: "soft",
          severity: "low",
          conditions: [
            { field: "estimatedCost", operator: "gt", value: 1000 },
            { field: "model", operator: "regex", value: "^claude-opus" },
            { field: "metadata.team", operator: "in", value: ["search", "ads"] },
          ],
        },
      ],
      { estimatedCost: 1500, model: "claude-opus-4-6", metadata: { team: "ads" } },
      NOW,
    );
    expect(result.reasons).toEqual([
      'rule "costly-opus" (soft warn, low): estimatedCost 1500 > 1000 and model "claude-opus-4-6" matches /^claude-opus/ ' +
        'and metadata.team "ads" in ["search","ads"]',
    ]);
  });

  it("cut long values short, so a prompt never lands whole in a log", () => {
    const prompt = `please ${"x".repeat(5000)} password`;
    const [reason] = evaluatePolicies(
      [
        {
          name: "pw",
          effect: "warn",
          enforcement: "soft",
          conditions: [{ field: "prompt", operator: "contains", value: "password" }],
        },
      ],
      { prompt },
      NOW,
    ).reasons;
    expect(reason?.length).toBeLessThan(200);
  });
});
