import { writeFileSync } from "node:fs";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { trust } from "../../src/index.ts";
import { cliInProcess } from "../support/run-cli.ts";
import { makeTempVault } from "../support/temp-vault.ts";
import { useOpenAIStandIn } from "../support/use-openai-stand-in.ts";

/*
 * README "Policies": `usertrust policy test` "builds the same context the engine does — every field
 * in the table above […] — so a rule decides there as it will on a call; fields a call would carry
 * but the command cannot know (`prompt_length`, `tools`, …) are 0 or empty unless given".
 * Each test here makes the real call through trust() and asks `policy test` the same question.
 */

describe("`usertrust policy test` decides as a real call through trust() does", () => {
  const standIn = useOpenAIStandIn();
  const { cleanups } = standIn;

  async function realCall(policy: string): Promise<{ base: string; outcome: unknown }> {
    const vault = makeTempVault({ budget: 1_000_000 });
    cleanups.push(vault.cleanup);
    writeFileSync(vault.paths.defaultPolicy, policy);
    const client = await trust(
      new OpenAI({ baseURL: `${standIn.server.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: vault.base,
      },
    );
    cleanups.push(() => client.destroy());
    const outcome = await client.chat.completions
      .create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 5 })
      .then(() => "allowed")
      .catch((error: unknown) => error);
    return { base: vault.base, outcome };
  }

  it("a rule about tool calls (tool_name) does not deny a model call in `policy test`, as it does not in trust()", async () => {
    // README (AI SDK, Tools): "Rules that read tool fields apply only to tool calls, and the others only to model calls."
    const { base, outcome } = await realCall(`- name: never-drop-tables
  effect: deny
  enforcement: hard
  severity: critical
  conditions:
    - { field: tool_name, operator: eq, value: drop_table }
`);
    expect(outcome).toBe("allowed");

    const run = await cliInProcess(
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "gpt-4o",
      "--cost",
      "10",
    );
    expect(run.stdout).toMatch(/^Decision: allow/m);
    expect(run.code).toBe(0);
  });

  it("a hard deny on `provider` does not fail closed in `policy test` for a model whose provider is known", async () => {
    const { base, outcome } = await realCall(`- name: anthropic-only-in-eu
  effect: deny
  enforcement: hard
  conditions:
    - { field: provider, operator: eq, value: anthropic }
`);
    expect(outcome).toBe("allowed"); // an OpenAI call: provider "openai"

    // The command names the model; the provider is a field of the table, and "0 or empty" at worst.
    const run = await cliInProcess(
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "gpt-4o",
      "--cost",
      "10",
    );
    expect(run.stdout).toMatch(/^Decision: allow/m);
    expect(run.code).toBe(0);
  });

  it("names the provider it cannot infer and takes --provider, so a rule on `provider` decides as the call would", async () => {
    const { base } = await realCall(`- name: anthropic-only-in-eu
  effect: deny
  enforcement: hard
  conditions:
    - { field: provider, operator: eq, value: anthropic }
`);
    const unknown = await cliInProcess(
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "my-fine-tune",
      "--cost",
      "10",
    );
    expect(unknown.stdout).toContain(
      'Provider: unknown for model "my-fine-tune"; give --provider to set it.',
    );
    expect(unknown.stdout).toMatch(/^Decision: deny/m); // a hard deny fails closed on what it cannot know

    const given = await cliInProcess(
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "my-fine-tune",
      "--provider",
      "anthropic",
      "--cost",
      "10",
    );
    expect(given.stdout).toContain('"provider":"anthropic"');
    expect(given.stdout).toMatch(/^Decision: deny/m);
    expect(given.stdout).not.toContain("is missing from the request");

    const inferred = await cliInProcess(
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "claude-sonnet-4-5",
      "--cost",
      "10",
      "--json",
    );
    const result = JSON.parse(inferred.stdout) as { decision: string; context: { provider?: string } };
    expect(result.context.provider).toBe("anthropic");
    expect(result.decision).toBe("deny");
  });

  it("says how many tool-call rules it left out, and still applies the call rules", async () => {
    const { base } = await realCall(`- name: never-drop-tables
  effect: deny
  enforcement: hard
  conditions:
    - { field: tool_name, operator: eq, value: drop_table }
- name: pricey
  effect: warn
  enforcement: soft
  conditions:
    - { field: estimated_cost, operator: gt, value: 5 }
`);
    const run = await cliInProcess(
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "gpt-4o",
      "--cost",
      "10",
    );
    expect(run.stdout).toContain('WARN  rule "pricey"');
    expect(run.stdout).toMatch(
      /^Decision: allow \(0 hard violations, 1 warning; 1 rule evaluated; 1 tool-call rule not applied to a model call\)$/m,
    );
  });
});
