import { readFileSync, writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/index.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README (AI SDK tools): the `tool_call` audit event carries "decision, rule; never the
 * arguments"; "Audit events record kinds, counts, rule names and severities — never prompt text
 * or the personal data found." A rule on `tool_args` that matches must not copy the argument
 * values into the audit log through its reason or warnings.
 */

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const EMAIL = "jane.doe@competitor.com";

const RULES = `- name: no-mail-to-competitors
  effect: deny
  enforcement: hard
  conditions:
    - { field: tool_name, operator: eq, value: send_email }
    - { field: tool_args.to, operator: regex, value: "@competitor\\\\.com$" }
- name: flag-external-mail
  effect: warn
  enforcement: soft
  conditions:
    - { field: tool_args.to, operator: contains, value: "@" }
`;

describe("tool_call audit events never hold the tool's arguments", () => {
  it("a denied and a warned tool call leave no argument value in events.jsonl", async () => {
    const vault = makeTempVault({ budget: 10_000 });
    cleanups.push(vault.cleanup);
    writeFileSync(vault.paths.defaultPolicy, RULES);
    const engine = await createEngine({ vaultBase: vault.base });
    cleanups.push(() => engine.close());
    const decision = await engine.reviewToolCall({
      toolName: "send_email",
      input: { to: EMAIL, body: "hello" },
    });
    expect(decision.approved).toBe(false);
    const log = readFileSync(vault.paths.auditLog, "utf8");
    expect(log).toContain('"kind":"tool_call"');
    expect(log).not.toContain(EMAIL);
  });
});
