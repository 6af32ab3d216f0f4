import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, tool } from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import { withTrustContext } from "../../src/core/surface/trust-context.ts";
import { governModel, usertrustToolApproval } from "../../src/middleware/ai-sdk/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Vault = ReturnType<typeof makeTempVault>;

async function policyVault(yaml: string): Promise<{ vault: Vault; engine: Engine }> {
  const vault = makeTempVault({ budget: 100_000, policies: ["policies/default.yml", "policies/extra.yml"] });
  writeFileSync(join(vault.paths.policiesDir, "extra.yml"), yaml);
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  return { vault, engine };
}

function openai() {
  return createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
}

describe("usertrustToolApproval and the tool's own needsApproval", () => {
  it("does not auto-approve a tool that asks for human approval (needsApproval: true)", async () => {
    const { engine } = await policyVault("[]\n");
    server.setBehaviour({ toolCall: { name: "wire_money", arguments: '{"amount":5000}' } });
    let executed = 0;
    const tools = {
      wire_money: tool({
        inputSchema: z.object({ amount: z.number() }),
        needsApproval: true,
        execute: async () => {
          executed += 1;
          return "sent";
        },
      }),
    };

    // Without usertrust: the SDK stops and asks the user (a tool-approval-request), nothing runs.
    const plain = await generateText({
      model: governModel(openai().chat("gpt-4o-mini"), engine),
      prompt: "Pay the invoice",
      maxOutputTokens: 1_000,
      stopWhen: stepCountIs(3),
      tools,
    });
    expect(executed).toBe(0);
    expect(plain.steps[0]?.content.some((part) => part.type === "tool-approval-request")).toBe(true);

    // Adding usertrust's governance (no rule names the tool) must not remove the human approval.
    const governed = await generateText({
      model: governModel(openai().chat("gpt-4o-mini"), engine),
      prompt: "Pay the invoice",
      maxOutputTokens: 1_000,
      stopWhen: stepCountIs(3),
      tools,
      toolApproval: usertrustToolApproval(engine),
    });
    expect(executed, "the wire ran without the human approval the tool asked for").toBe(0);
    expect(governed.steps[0]?.content.some((part) => part.type === "tool-approval-request")).toBe(true);
  });
});

describe("usertrustToolApproval and per-call context", () => {
  const scopedToolRule =
    "- name: no-wires-in-prod\n  effect: deny\n  enforcement: hard\n  severity: critical\n" +
    '  scopePatterns: ["prod/**"]\n' +
    "  conditions:\n    - { field: tool_name, operator: eq, value: wire_money }\n";

  it("withTrustContext's scope and actor reach the tool review (a prod-scoped tool rule applies)", async () => {
    const { vault, engine } = await policyVault(scopedToolRule);
    server.setBehaviour({ toolCall: { name: "wire_money", arguments: '{"amount":5000}' } });
    let executed = 0;
    await withTrustContext({ scope: "prod/payments", actor: "alice" }, () =>
      generateText({
        model: governModel(openai().chat("gpt-4o-mini"), engine),
        prompt: "Pay the invoice",
        maxOutputTokens: 1_000,
        stopWhen: stepCountIs(3),
        tools: {
          wire_money: tool({
            inputSchema: z.object({ amount: z.number() }),
            execute: async () => {
              executed += 1;
              return "sent";
            },
          }),
        },
        toolApproval: usertrustToolApproval(engine),
      }),
    );
    const events = readAuditLog(vault.paths.auditLog);
    const spend = events.find((event) => event.kind === "spend");
    const toolCall = events.find((event) => event.kind === "tool_call");
    // The model calls of the same run carry the context...
    expect(spend).toMatchObject({ actor: "alice", data: { scope: ["prod/payments"] } });
    // ...the tool review must too.
    expect(toolCall, "tool_call event").toMatchObject({
      actor: "alice",
      data: { toolName: "wire_money", scope: ["prod/payments"], approved: false },
    });
    expect(executed, "the prod-scoped deny rule did not stop the wire").toBe(0);
  });
});
