import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  evaluatePolicies,
  type FieldCondition,
  type PolicyContext,
  type PolicyRule,
} from "../../../src/core/policy/index.ts";

const NOW = new Date("2026-03-09T12:00:00Z");
const MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-6", "claude-opus-4-6", "gemini-2.5-pro"] as const;
const TEAMS = ["search", "ads", "infra"] as const;
const SCOPES = ["production/api", "production/chat/v2", "staging/test", "dev"] as const;

const scalar = fc.oneof(
  fc.constantFrom<unknown>(...MODELS, ...TEAMS, 0, 1, 1000, true, false, null),
  fc.string({ maxLength: 6 }),
  fc.integer({ min: -5, max: 2000 }),
);

const conditionArb: fc.Arbitrary<FieldCondition> = fc.oneof(
  fc.record({
    field: fc.constantFrom("model", "provider", "metadata.team", "missing.field"),
    operator: fc.constantFrom("eq" as const, "neq" as const),
    value: scalar,
  }),
  fc.record({
    field: fc.constantFrom("estimatedCost", "budgetRemaining"),
    operator: fc.constantFrom("gt" as const, "gte" as const, "lt" as const, "lte" as const),
    value: fc.integer({ min: 0, max: 2000 }),
  }),
  fc.record({
    field: fc.constantFrom("model", "metadata.team"),
    operator: fc.constantFrom("in" as const, "not_in" as const),
    value: fc.subarray<unknown>([...MODELS, ...TEAMS]),
  }),
  fc.record({
    field: fc.constantFrom("model", "metadata.team", "tools", "missing.field"),
    operator: fc.constantFrom("exists" as const, "not_exists" as const),
  }),
  fc.record({
    field: fc.constantFrom("model", "tools"),
    operator: fc.constant("contains" as const),
    value: fc.constantFrom("gpt", "claude", "4o", "bash"),
  }),
  fc.record({
    field: fc.constantFrom("model", "estimatedCost"),
    operator: fc.constant("regex" as const),
    value: fc.constantFrom("^gpt", "mini$", "^claude-(sonnet|opus)", "\\d"),
  }),
);

const ruleBodyArb = fc.record(
  {
    effect: fc.constantFrom("deny" as const, "warn" as const),
    enforcement: fc.constantFrom("hard" as const, "soft" as const),
    priority: fc.integer({ min: 0, max: 5 }),
    enabled: fc.boolean(),
    conditions: fc.array(conditionArb, { maxLength: 3 }),
    scopePatterns: fc.constantFrom<string[]>(["production/**"], ["staging/*"], ["**"]),
  },
  { requiredKeys: ["effect", "enforcement", "conditions"] },
);

const rulesArb: fc.Arbitrary<PolicyRule[]> = fc
  .array(ruleBodyArb, { maxLength: 8 })
  .map((bodies) => bodies.map((body, index) => ({ name: `rule-${index}`, ...body })));

const contextArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    model: fc.constantFrom(...MODELS),
    provider: fc.constantFrom("openai", "anthropic", "google"),
    estimatedCost: fc.integer({ min: 0, max: 2000 }),
    budgetRemaining: fc.integer({ min: -100, max: 2000 }),
    metadata: fc.record({ team: fc.constantFrom(...TEAMS) }, { requiredKeys: [] }),
    tools: fc.subarray(["bash", "web", "sql"]),
    scope: fc.subarray([...SCOPES]),
  },
  { requiredKeys: ["model"] },
);

/** Where to put a rule into a list, and with what priority. */
const placementArb = fc.record({ at: fc.nat(), priority: fc.integer({ min: -1, max: 6 }) });

function insert(rules: PolicyRule[], rule: PolicyRule, at: number): PolicyRule[] {
  const index = at % (rules.length + 1);
  return [...rules.slice(0, index), rule, ...rules.slice(index)];
}

function decide(rules: PolicyRule[], context: PolicyContext) {
  return evaluatePolicies(rules, context, NOW);
}

describe("policy evaluation properties", () => {
  it("adding a rule that does not match never changes the result", () => {
    fc.assert(
      fc.property(rulesArb, contextArb, ruleBodyArb, placementArb, (rules, context, body, placement) => {
        // model is always present, and no model equals this value: the rule can never match.
        const never: PolicyRule = {
          ...body,
          name: "never",
          priority: placement.priority,
          conditions: [...body.conditions, { field: "model", operator: "eq", value: "no-such-model" }],
        };
        const before = decide(rules, context);
        const after = decide(insert(rules, never, placement.at), context);
        expect(after).toEqual(before);
      }),
    );
  });

  it("a matching hard deny always denies, wherever it sits and whatever its priority", () => {
    fc.assert(
      fc.property(rulesArb, contextArb, placementArb, (rules, context, placement) => {
        const model = context.model as string;
        const blocker: PolicyRule = {
          name: "blocker",
          effect: "deny",
          enforcement: "hard",
          priority: placement.priority,
          conditions: [{ field: "model", operator: "eq", value: model }],
        };
        const result = decide(insert(rules, blocker, placement.at), context);
        expect(result.decision).toBe("deny");
        expect(result.hardViolations.map((m) => m.rule)).toContain("blocker");
      }),
    );
  });

  it("eq and neq are complementary on present fields, as are gt/lte, lt/gte and in/not_in", () => {
    const complementary: Array<[FieldCondition["operator"], FieldCondition["operator"]]> = [
      ["eq", "neq"],
      ["in", "not_in"],
    ];
    const numericPairs: Array<[FieldCondition["operator"], FieldCondition["operator"]]> = [
      ["gt", "lte"],
      ["lt", "gte"],
    ];
    const matches = (operator: FieldCondition["operator"], value: unknown, subject: unknown) =>
      decide(
        [
          {
            name: "r",
            effect: "warn",
            enforcement: "soft",
            conditions: [{ field: "subject", operator, value }],
          },
        ],
        {
          subject,
        },
      ).matched.length === 1;
    fc.assert(
      fc.property(scalar, scalar, fc.array(scalar, { maxLength: 4 }), (subject, value, list) => {
        for (const [yes, no] of complementary) {
          const expected = yes === "eq" ? value : list;
          expect(matches(yes, expected, subject)).toBe(!matches(no, expected, subject));
        }
      }),
    );
    fc.assert(
      fc.property(
        fc.double({ noNaN: true }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        (subject, value) => {
          for (const [yes, no] of numericPairs)
            expect(matches(yes, value, subject)).toBe(!matches(no, value, subject));
        },
      ),
    );
  });

  it("denies exactly when a hard deny matched, and splits every match into hard or soft", () => {
    fc.assert(
      fc.property(rulesArb, contextArb, (rules, context) => {
        const result = decide(rules, context);
        expect(result.decision === "deny").toBe(result.hardViolations.length > 0);
        expect(result.hasWarnings).toBe(result.softViolations.length > 0);
        expect(result.matched.length).toBe(result.hardViolations.length + result.softViolations.length);
        for (const match of result.hardViolations)
          expect([match.effect, match.enforcement]).toEqual(["deny", "hard"]);
        expect(result.reasons).toEqual(result.matched.map((m) => m.reason));
        const disabled = new Set(rules.filter((r) => r.enabled === false).map((r) => r.name));
        for (const match of result.matched) expect(disabled.has(match.rule)).toBe(false);
      }),
    );
  });

  it("list order only breaks priority ties: rules with distinct priorities decide the same in any order", () => {
    fc.assert(
      fc.property(rulesArb, contextArb, fc.nat(), (rules, context, seed) => {
        const distinct = rules.map((rule, index) => ({ ...rule, priority: index * 10 }));
        const shuffled = [...distinct].sort(
          (a, b) => ((a.priority * 7919 + seed) % 13) - ((b.priority * 7919 + seed) % 13),
        );
        expect(decide(shuffled, context)).toEqual(decide(distinct, context));
      }),
    );
  });
});
