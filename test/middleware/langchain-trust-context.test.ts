import { tool } from "@langchain/core/tools";
import { createAgent, type ToolMessage } from "langchain";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { ToolDeniedError } from "../../src/core/errors.ts";
import { withTrustContext } from "../../src/core/surface/trust-context.ts";
import { UsertrustCallbackHandler, usertrustAgentMiddleware } from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { langChainOnOpenAI } from "../support/langchain-fixture.ts";

/*
 * README (LangChain): "Per-invocation context: config.metadata.usertrust (chat model, handler) or
 * context.usertrust (agent) … withTrustContext works too." A scope given by withTrustContext must
 * reach the tool review the same way it reaches the model calls of the same run.
 */

const { server, engineOn: engineWith, chatOpenAI } = langChainOnOpenAI();

const PROD_WIRES = `- name: no-wires-in-prod
  effect: deny
  enforcement: hard
  severity: critical
  scopePatterns: ["prod/**"]
  conditions:
    - { field: tool_name, operator: eq, value: wire_money }
`;

function wireTool() {
  const runs = { count: 0 };
  const wire = tool(
    async () => {
      runs.count += 1;
      return "sent";
    },
    { name: "wire_money", description: "Wire money", schema: z.object({ amount: z.number() }) },
  );
  return { wire, runs };
}

describe("withTrustContext and LangChain tool reviews", () => {
  it("usertrustAgentMiddleware: a prod-scoped tool rule applies under withTrustContext({ scope: 'prod/…' })", async () => {
    const { vault, engine } = await engineWith(100_000, PROD_WIRES);
    server().setBehaviour({ toolCall: { name: "wire_money", arguments: '{"amount":5000}' } });
    const { wire, runs } = wireTool();
    const agent = createAgent({
      model: chatOpenAI(),
      tools: [wire],
      middleware: [usertrustAgentMiddleware({ engine })],
    });
    const { messages } = await withTrustContext({ scope: "prod/payments", actor: "alice" }, () =>
      agent.invoke({ messages: [{ role: "user", content: "Pay 5000" }] }),
    );
    const events = readAuditLog(vault.paths.auditLog);
    // The model calls of the run carry the context...
    expect(events.find((event) => event.kind === "spend")).toMatchObject({
      actor: "alice",
      data: { scope: ["prod/payments"] },
    });
    // ...and the tool review must as well.
    expect(events.find((event) => event.kind === "tool_call")).toMatchObject({
      actor: "alice",
      data: { toolName: "wire_money", approved: false, scope: ["prod/payments"] },
    });
    expect(runs.count, "the wire ran although the prod-scoped rule denies it").toBe(0);
    expect((messages[2] as ToolMessage).status).toBe("error");
  });

  it("UsertrustCallbackHandler (blocking): a prod-scoped tool rule applies under withTrustContext", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { vault, engine } = await engineWith(100_000, PROD_WIRES);
    const handler = new UsertrustCallbackHandler({ engine, blocking: true });
    const { wire, runs } = wireTool();
    const error = await withTrustContext({ scope: "prod/payments", actor: "alice" }, () =>
      wire.invoke({ amount: 5_000 }, { callbacks: [handler] }),
    ).catch((e: unknown) => e);
    expect(readAuditLog(vault.paths.auditLog)[0]).toMatchObject({
      kind: "tool_call",
      actor: "alice",
      data: { toolName: "wire_money", approved: false },
    });
    expect(error).toBeInstanceOf(ToolDeniedError);
    expect(runs.count).toBe(0);
  });
});
