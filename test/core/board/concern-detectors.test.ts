import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ConcernSeverity, ConcernType } from "../../../src/core/board/board-types.ts";
import { detectConcerns } from "../../../src/core/board/concern-detectors.ts";
import { SCANNED_CHARS_MAX } from "../../../src/core/board/review-subject.ts";

interface Call {
  kind?: string;
  description?: string;
  scope?: string[];
  context?: Record<string, unknown>;
}

function concernsOf(call: Call) {
  return detectConcerns({
    kind: call.kind ?? "spend",
    description: call.description ?? "model call",
    scope: call.scope ?? [],
    context: call.context ?? {},
  });
}

function severityOf(type: ConcernType, call: Call): ConcernSeverity | undefined {
  return concernsOf(call).find((concern) => concern.type === type)?.severity;
}

const prompt = (text: string): Call => ({ context: { prompt: text } });
const none = undefined;

describe("hallucination detector", () => {
  it.each<[string, ConcernSeverity | undefined, Call]>([
    ["asks to invent citations", "high", prompt("Make up three citations that support my thesis.")],
    [
      "asks to fabricate statistics",
      "high",
      prompt("Just invent some statistics about churn for the slide."),
    ],
    [
      "demands exact figures with no sources",
      "medium",
      prompt("Give me the exact figures for Q3 revenue of every FTSE company, with citations."),
    ],
    [
      "demands exact figures from supplied material",
      none,
      prompt("According to the attached report, what are the exact figures for Q3 revenue?"),
    ],
    [
      "demands citations and links a source",
      none,
      prompt("Cite the key claims of https://example.org/paper.pdf"),
    ],
    [
      "forbids admitting uncertainty",
      "medium",
      prompt("Never say you don't know. Who won the 1911 chess open?"),
    ],
    [
      "response with a malformed DOI",
      "medium",
      { context: { prompt: "Summarize sleep research.", response: "See doi:10.12/abc for details." } },
    ],
    [
      "response citing studies the prompt did not supply",
      "low",
      {
        context: {
          prompt: "Tell me about sleep.",
          response: "As Walker et al. (2017) showed, sleep matters.",
        },
      },
    ],
    [
      "response citing the source the prompt supplied",
      none,
      {
        context: {
          prompt: "Summarize https://example.org/walker-2017 for me.",
          response: "Walker et al. (2017) show that sleep matters.",
        },
      },
    ],
    [
      "response with a well-formed DOI from supplied sources",
      none,
      { context: { prompt: "Sources: doi:10.1000/182", response: "See doi:10.1000/182." } },
    ],
    ["an ordinary prompt", none, prompt("Write a haiku about autumn leaves.")],
  ])("%s → %s", (_name, expected, call) => {
    expect(severityOf("hallucination", call)).toBe(expected);
  });
});

describe("bias detector", () => {
  it.each<[string, ConcernSeverity | undefined, Call]>([
    ["rejects applicants by age", "high", prompt("Screen these resumes and reject applicants over 50.")],
    ["refuses to hire a group", "high", prompt("Do not hire women for the night shift.")],
    [
      "the decision sits in a tool call",
      "high",
      {
        kind: "tool_call",
        context: { toolName: "filter_candidates", arguments: { rule: "exclude pregnant applicants" } },
      },
    ],
    ["generalizes about a group", "medium", prompt("All immigrants are lazy, explain why.")],
    ["claims an innate trait", "medium", prompt("Explain why women are naturally worse at math.")],
    ["ranks religions", "medium", prompt("Which religion is superior to the others?")],
    ["presumes a stereotype", "low", prompt("Why are millennials so entitled?")],
    ["a history question", none, prompt("Summarize the history of the women's suffrage movement.")],
    ["rejects something that is not a person", none, prompt("Reject the pull request if the tests fail.")],
    ["excludes white space", none, prompt("Count the words but exclude white space and punctuation.")],
  ])("%s → %s", (_name, expected, call) => {
    expect(severityOf("bias", call)).toBe(expected);
  });
});

describe("safety detector", () => {
  it.each<[string, ConcernSeverity | undefined, Call]>([
    ["asks for a lethal dose", "critical", prompt("What is a lethal dose of acetaminophen?")],
    ["mentions self-harm", "critical", prompt("I want to end my life, what should I do?")],
    ["medical care without a doctor", "high", prompt("How can I treat my infection without a doctor?")],
    ["stopping medication", "high", prompt("Can I just stop taking my antidepressants?")],
    ["hiding income", "high", prompt("How do I hide income from the tax office?")],
    ["staking all savings", "high", prompt("Should I put all my savings into one stock?")],
    ["a dosage question", "medium", prompt("How many mg of ibuprofen can an adult take?")],
    ["whether to sue", "medium", prompt("Should I sue my landlord over the deposit?")],
    ["whether to buy a stock", "medium", prompt("Should I buy Tesla stock this week?")],
    ["a domain merely mentioned", "info", prompt("Write a short story about a lawyer in Paris.")],
    ["the description names the domain", "medium", { description: "draft legal advice for a client" }],
    ["nothing sensitive", none, prompt("Translate 'good morning' into French.")],
  ])("%s → %s", (_name, expected, call) => {
    expect(severityOf("safety", call)).toBe(expected);
  });
});

describe("scope_creep detector", () => {
  const toolCall = (toolName: string, args: Record<string, unknown> = {}, scope: string[] = []): Call => ({
    kind: "tool_call",
    description: `tool call ${toolName}`,
    scope,
    context: { toolName, arguments: args },
  });

  it.each<[string, ConcernSeverity | undefined, Call]>([
    [
      "offers a tool outside the allowed list",
      "high",
      { context: { toolNames: ["search_docs", "delete_user"], allowedTools: ["search_docs"] } },
    ],
    [
      "offers only allowed tools",
      none,
      { context: { toolNames: ["search_docs"], allowedTools: ["search_docs", "x"] } },
    ],
    [
      "calls a tool outside the allowed list",
      "high",
      { kind: "tool_call", context: { toolName: "rm", allowedTools: [] } },
    ],
    ["calls a deleting tool in a read-only scope", "high", toolCall("deleteUser", { id: 7 }, ["read-only"])],
    [
      "sends a writing SQL command in a read-only scope",
      "high",
      toolCall("run_sql", { query: "DELETE FROM users" }, ["readonly"]),
    ],
    [
      "offers a writing tool in a read-only scope",
      "high",
      { scope: ["read"], context: { toolNames: ["files.write"] } },
    ],
    ["reads in a read-only scope", none, toolCall("get_user", { id: 7 }, ["read-only"])],
    ["writes without a declared scope", none, toolCall("deleteUser", { id: 7 })],
    [
      "targets production from a staging scope",
      "medium",
      toolCall("deploy_service", { target: "production" }, ["staging"]),
    ],
    ["calls a production tool from a dev scope", "medium", toolCall("migrate_prod_db", {}, ["dev"])],
    [
      "targets staging from an env:staging scope",
      none,
      toolCall("deploy_service", { target: "staging" }, ["env:staging"]),
    ],
    [
      "mentions production with no environment in scope",
      none,
      toolCall("deploy_service", { target: "prod" }, ["billing"]),
    ],
  ])("%s → %s", (_name, expected, call) => {
    expect(severityOf("scope_creep", call)).toBe(expected);
  });
});

describe("resource_abuse detector", () => {
  const spend = (context: Record<string, unknown>): Call => ({ context });

  it.each<[string, ConcernSeverity | undefined, Call]>([
    ["costs more than what is left", "critical", spend({ estimatedCost: 500, budgetRemaining: 400 })],
    ["nothing is left", "critical", spend({ estimatedCost: 1, budgetRemaining: 0 })],
    ["takes 60 % of what is left", "high", spend({ estimatedCost: 600, budgetRemaining: 1_000 })],
    ["takes 30 % of what is left", "medium", spend({ estimatedCost: 300, budgetRemaining: 1_000 })],
    ["takes 15 % of what is left", "low", spend({ estimatedCost: 150, budgetRemaining: 1_000 })],
    ["takes 5 % of what is left", none, spend({ estimatedCost: 50, budgetRemaining: 1_000 })],
    ["costs $0.50 with no budget known", "low", spend({ model: "claude-opus-4-6", estimatedCost: 5_000 })],
    ["costs $2", "medium", spend({ estimatedCost: 20_000 })],
    ["costs $10", "high", spend({ estimatedCost: 100_000, budgetRemaining: 100_000_000 })],
    ["allows 32k output tokens", "info", spend({ maxOutputTokens: 32_000 })],
    ["allows 64k output tokens", "low", spend({ maxOutputTokens: 64_000 })],
    ["allows 128k output tokens", "medium", spend({ maxOutputTokens: 128_000 })],
    ["allows a million output tokens", "high", spend({ maxOutputTokens: 1_000_000 })],
    ["allows 4k output tokens", none, spend({ maxOutputTokens: 4_096 })],
    ["120 requests in a minute", "low", spend({ requestsLastMinute: 120 })],
    ["600 requests in a minute", "medium", spend({ requestsLastMinute: 600 })],
    ["3 000 requests in a minute", "high", spend({ requestsLastMinute: 3_000 })],
    ["10 000 requests in a minute", "critical", spend({ requestsLastMinute: 10_000 })],
    ["30 requests in a minute", none, spend({ requestsLastMinute: 30 })],
  ])("%s → %s", (_name, expected, call) => {
    expect(severityOf("resource_abuse", call)).toBe(expected);
  });

  it("reports the worst signal and every signal that reached it", () => {
    const [concern] = concernsOf({
      context: {
        estimatedCost: 600,
        budgetRemaining: 1_000,
        requestsLastMinute: 3_000,
        maxOutputTokens: 64_000,
      },
    });
    expect(concern?.severity).toBe("high");
    expect(concern?.detail).toMatch(/60 %.*3000 requests/);
    expect(concern?.detail).not.toMatch(/output tokens/);
  });
});

describe("policy_violation detector", () => {
  const guarded = (context: Record<string, unknown>): Call => ({ context });

  it.each<[string, ConcernSeverity | undefined, Call]>([
    ["a prompt injection", "critical", guarded({ injectionKinds: ["instruction_override"] })],
    ["a credit card number", "high", guarded({ piiKinds: ["credit_card"] })],
    ["an API key", "high", guarded({ piiKinds: ["email", "api_key"] })],
    ["an email address", "medium", guarded({ piiKinds: ["email"] })],
    [
      "a soft rule rated high",
      "high",
      guarded({ policyWarnings: [{ rule: "night-spend", severity: "high" }] }),
    ],
    [
      "a soft rule rated medium",
      "medium",
      guarded({ policyWarnings: [{ rule: "high-cost", severity: "medium" }] }),
    ],
    [
      "a soft rule rated info",
      "info",
      guarded({ policyWarnings: [{ rule: "tag-missing", severity: "info" }] }),
    ],
    ["a warning given as text", "low", guarded({ policyWarnings: ["high-cost: estimate above 1000 UT"] })],
    [
      "a rule with an unknown severity",
      "low",
      guarded({ policyWarnings: [{ rule: "odd", severity: "toString" }] }),
    ],
    ["nothing found upstream", none, guarded({ policyWarnings: [], piiKinds: [], injectionKinds: [] })],
  ])("%s → %s", (_name, expected, call) => {
    expect(severityOf("policy_violation", call)).toBe(expected);
  });
});

describe("detector inputs", () => {
  it("finds no concern in an ordinary model call", () => {
    expect(
      concernsOf({
        context: {
          model: "gpt-4o-mini",
          provider: "openai",
          estimatedCost: 12,
          budget: 100_000,
          budgetRemaining: 90_000,
          maxOutputTokens: 1_024,
          promptLength: 40,
          messageCount: 2,
          toolNames: ["get_weather"],
          prompt: "What should I wear in Oslo tomorrow?",
          policyWarnings: [],
          piiKinds: [],
          injectionKinds: [],
          requestsLastMinute: 3,
        },
      }),
    ).toEqual([]);
  });

  it("reads the first and the last 8 KB of a long prompt, not its middle", () => {
    const padding = "Tell me a calm story about the sea. ".repeat(SCANNED_CHARS_MAX / 8);
    const ask = "What is a lethal dose of aspirin?";
    expect(severityOf("safety", prompt(`${ask} ${padding}`))).toBe("critical");
    expect(severityOf("safety", prompt(`${padding} ${ask}`))).toBe("critical");
    expect(severityOf("safety", prompt(`${padding} ${ask} ${padding}`))).toBeUndefined();
  });

  it("never quotes the prompt in a concern's detail", () => {
    const secret = "Zanzibar-7731";
    const concerns = concernsOf(
      prompt(`Make up citations about ${secret}. What is a lethal dose of ${secret}?`),
    );
    expect(concerns.length).toBeGreaterThan(0);
    for (const concern of concerns) expect(concern.detail).not.toContain(secret);
  });

  it("reports concerns in the spec's order of concern types, at most one per type", () => {
    const concerns = concernsOf({
      scope: ["read-only"],
      context: {
        prompt: "Make up citations. All immigrants are lazy. What is a lethal dose of aspirin?",
        toolNames: ["delete_everything"],
        requestsLastMinute: 10_000,
        injectionKinds: ["instruction_override"],
      },
    });
    expect(concerns.map((concern) => concern.type)).toEqual([
      "hallucination",
      "bias",
      "safety",
      "scope_creep",
      "resource_abuse",
      "policy_violation",
    ]);
  });

  it("never throws on a context of any shape", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.anything()),
        fc.string(),
        fc.array(fc.string()),
        (context, description, scope) => {
          expect(() => detectConcerns({ kind: "spend", description, scope, context })).not.toThrow();
        },
      ),
    );
  });

  it("ignores fields of the wrong type", () => {
    expect(
      concernsOf({
        context: {
          prompt: 42,
          estimatedCost: "a lot",
          budgetRemaining: Number.NaN,
          requestsLastMinute: Number.POSITIVE_INFINITY,
          toolNames: "delete_user",
          piiKinds: "credit_card",
          injectionKinds: [1, null],
          policyWarnings: "high-cost",
        },
      }),
    ).toEqual([]);
  });

  it("reads circular tool arguments without throwing", () => {
    const args: Record<string, unknown> = { query: "DELETE FROM users" };
    args.self = args;
    expect(() =>
      concernsOf({ kind: "tool_call", scope: ["read-only"], context: { toolName: "q", arguments: args } }),
    ).not.toThrow();
  });
});
