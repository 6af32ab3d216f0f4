import { writeFileSync } from "node:fs";
import { tool } from "@langchain/core/tools";
import { ChatOpenAI } from "@langchain/openai";
import { createAgent, type ToolMessage } from "langchain";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { withTrustContext } from "../../src/adapters/trust-context.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import { ToolDeniedError } from "../../src/core/errors.ts";
import { UsertrustCallbackHandler, usertrustAgentMiddleware } from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README (LangChain): "Per-invocation context: config.metadata.usertrust (chat model, handler) or
 * context.usertrust (agent) … withTrustContext works too." A scope given by withTrustContext must
 * reach the tool review the same way it reaches the model calls of the same run.
 */

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const PROD_WIRES = `- name: no-wires-in-prod
  effect: deny
  enforcement: hard
  severity: critical
  scopePatterns: ["prod/**"]
  conditions:
    - { field: tool_name, operator: eq, value: wire_money }
`;

async function engineOn(
  policy: string,
): Promise<{ vault: ReturnType<typeof makeTempVault>; engine: Engine }> {
  const vault = makeTempVault({ budget: 100_000 });
  cleanups.push(vault.cleanup);
  writeFileSync(vault.paths.defaultPolicy, policy);
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(() => engine.close());
  return { vault, engine };
}

function chatOpenAI(): ChatOpenAI {
  return new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "test",
    configuration: { baseURL: `${server.url}/v1` },
    maxRetries: 0,
    maxTokens: 1_000_000,
  });
}

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
    const { vault, engine } = await engineOn(PROD_WIRES);
    server.setBehaviour({ toolCall: { name: "wire_money", arguments: '{"amount":5000}' } });
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
    const { vault, engine } = await engineOn(PROD_WIRES);
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
