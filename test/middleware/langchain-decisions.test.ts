import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { UsertrustCallbackHandler } from "../../src/middleware/langchain/index.ts";
import { makeTempVault } from "../support/temp-vault.ts";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe("UsertrustCallbackHandler: agent decisions", () => {
  // LangChain's agent runners (AgentExecutor and friends) report each step through these callbacks.
  it("records each agent step and the finish as decision events, naming the tool but never the reasoning", async () => {
    const vault = makeTempVault({ budget: 1_000 });
    cleanups.push(vault.cleanup);
    const handler = new UsertrustCallbackHandler({ vaultBase: vault.base, actor: "planner" });
    const runId = "8a6e2c1e-0000-4000-8000-000000000001";
    await handler.handleAgentAction(
      { tool: "search", toolInput: { q: "secret plan" }, log: "I should search for the secret plan" },
      runId,
    );
    await handler.handleAgentEnd({ returnValues: { output: "done" }, log: "final answer" }, runId);
    const events = readFileSync(vault.paths.auditLog, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { kind: string; actor: string; data: Record<string, unknown> });
    expect(events.map((event) => [event.kind, event.data.action, event.data.tool])).toEqual([
      ["decision", "tool", "search"],
      ["decision", "finish", undefined],
    ]);
    expect(events.every((event) => event.actor === "planner" && event.data.runId === runId)).toBe(true);
    expect(readFileSync(vault.paths.auditLog, "utf8")).not.toContain("secret plan");
  });
});
