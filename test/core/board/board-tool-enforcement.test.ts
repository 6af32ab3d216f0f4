import { writeFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TrustConfig } from "../../../src/core/config.ts";
import { createEngine } from "../../../src/core/create-engine.ts";
import { readAuditLog } from "../../support/audit-log.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

/*
 * README (config reference): enforcement "warn": "the call goes through, the receipt says what would
 * have been refused"; "log": "only the audit event says it". "Applies to policy denies, PII and
 * injection blocks and board refusals." For a tool call, what the caller gets back is the
 * ToolDecision's warnings (also written to the tool_call event's `warnings`), and the event records
 * what would have been refused with the enforcement mode, as a model call's spend event does.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const board = {
  enabled: true,
  vetoThreshold: "medium" as const,
  escalation: "block" as const,
  maxHistory: 100,
};

async function engineWith(enforcement: TrustConfig["enforcement"], rules?: string) {
  const vault = makeTempVault({ budget: 100_000, enforcement, board });
  cleanups.push(vault.cleanup);
  if (rules !== undefined) writeFileSync(vault.paths.defaultPolicy, rules);
  const engine = await createEngine({ vaultBase: vault.base, dryRun: true });
  cleanups.push(() => engine.close());
  return { vault, engine };
}

// Personal legal advice in the arguments: safety, medium → Alpha abstains → escalated → refused
// under escalation "block" (in block mode this tool call is denied).
const askLawyer = { toolName: "ask_lawyer", input: { question: "Should I sue my landlord?" } };

describe("a board refusal of a tool call under each enforcement mode", () => {
  it('"block": refuses the tool call', async () => {
    const { engine } = await engineWith("block");
    const decision = await engine.reviewToolCall(askLawyer);
    expect(decision.approved).toBe(false);
    expect(decision.reason).toMatch(/escalated/);
  });

  it('"warn": lets the tool call through and says, in its warnings, what would have been refused', async () => {
    const { vault, engine } = await engineWith("warn");
    const consoleWarn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const decision = await engine.reviewToolCall(askLawyer);
    expect(decision.approved).toBe(true);
    expect(decision.audit).toMatchObject({ wouldDeny: ["board: escalated"], enforcement: "warn" });
    expect(decision.warnings).toEqual(["not enforced (enforcement: warn): board escalated"]);
    expect(consoleWarn.mock.calls).toEqual([
      ["usertrust: tool call: not enforced (enforcement: warn): board escalated"],
    ]);
    const [event] = readAuditLog(vault.paths.auditLog);
    expect(event?.data).toMatchObject({
      approved: true,
      wouldDeny: ["board: escalated"],
      enforcement: "warn",
      warnings: ["not enforced (enforcement: warn): board escalated"],
    });
  });

  it('"log": lets the tool call through and only the audit event says what would have been refused', async () => {
    const { vault, engine } = await engineWith("log");
    const consoleWarn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const decision = await engine.reviewToolCall(askLawyer);
    expect(decision.approved).toBe(true);
    expect(decision.warnings).toEqual([]);
    expect(consoleWarn).not.toHaveBeenCalled();
    const [event] = readAuditLog(vault.paths.auditLog);
    expect(event?.data).toMatchObject({
      approved: true,
      wouldDeny: ["board: escalated"],
      enforcement: "log",
    });
  });

  it('"warn": a policy deny and a board refusal of the same tool call are both reported', async () => {
    const rules = `- name: no-lawyers
  effect: deny
  enforcement: hard
  conditions:
    - { field: tool_name, operator: eq, value: ask_lawyer }
`;
    const { engine } = await engineWith("warn", rules);
    const decision = await engine.reviewToolCall(askLawyer);
    expect(decision.approved).toBe(true);
    expect(decision.audit).toMatchObject({
      wouldDeny: ["policy_denied: no-lawyers", "board: escalated"],
      enforcement: "warn",
    });
    expect(decision.warnings).toEqual([
      "not enforced (enforcement: warn): policy no-lawyers",
      "not enforced (enforcement: warn): board escalated",
    ]);
  });
});
