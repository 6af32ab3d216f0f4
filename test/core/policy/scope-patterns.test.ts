import { writeFileSync } from "node:fs";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { scopeMatches } from "../../../src/core/budgets/scoped-budgets.ts";
import { evaluatePolicies, type PolicyRule } from "../../../src/core/policy/index.ts";
import { PolicyDeniedError, trust } from "../../../src/index.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../../support/openai-stand-in.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

/*
 * README "Policies": scopePatterns are "minimatch against the call's scope: `production/**`";
 * InvalidScopeError's doc: scopes with an empty, "." or ".." segment are refused because such a
 * scope "could slip past a budget or a rule"; every other scope is accepted. A segment that merely
 * starts with a dot (`production/.canary`) is accepted, is counted by the `production/**` budget
 * (budgets match with dot: true) — and must likewise be caught by a `production/**` hard deny.
 */

const NOW = new Date("2026-03-09T12:00:00Z");
const noOpusInProd: PolicyRule = {
  name: "no-opus-in-prod",
  effect: "deny",
  enforcement: "hard",
  conditions: [{ field: "model", operator: "eq", value: "claude-opus-4-1" }],
  scopePatterns: ["production/**"],
};

describe("policy scopePatterns and scope segments starting with a dot", () => {
  it("`production/**` applies to scope production/.canary, as the `production/**` budget does", () => {
    const budget = { scope: "production/**", limit: 1, period: "none" as const, timeZone: "UTC", warnAt: [] };
    expect(scopeMatches(budget, ["production/.canary"])).toBe(true);
    const result = evaluatePolicies(
      [noOpusInProd],
      { model: "claude-opus-4-1", scope: ["production/.canary"] },
      NOW,
    );
    expect(result.decision).toBe("deny");
  });

  describe("end to end through trust()", () => {
    let server: OpenAIStandIn;
    const cleanups: Array<() => unknown> = [];
    beforeAll(async () => {
      server = await startOpenAIStandIn();
    });
    afterAll(() => server.close());
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it("a hard deny on production/** refuses a call scoped production/.canary", async () => {
      const vault = makeTempVault({ budget: 100_000 });
      cleanups.push(vault.cleanup);
      writeFileSync(
        vault.paths.defaultPolicy,
        `- name: no-gpt-4o-in-prod
  effect: deny
  enforcement: hard
  conditions:
    - { field: model, operator: eq, value: gpt-4o }
  scopePatterns: ["production/**"]
`,
      );
      const client = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 }), {
        vaultBase: vault.base,
        scope: "production/.canary",
      });
      cleanups.push(() => client.destroy());
      const before = server.requests.length;
      const outcome = await client.chat.completions
        .create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 10 })
        .catch((error: unknown) => error);
      expect(outcome).toBeInstanceOf(PolicyDeniedError);
      expect(server.requests.length).toBe(before);
    });
  });
});
