import { writeFileSync } from "node:fs";
import type { AIMessage, AIMessageChunk, ToolMessage } from "@langchain/core/messages";
import { RunnableLambda, RunnableSequence } from "@langchain/core/runnables";
import { tool } from "@langchain/core/tools";
import { ChatOpenAI } from "@langchain/openai";
import { createAgent } from "langchain";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import { BudgetExceededError, PolicyDeniedError, ToolDeniedError } from "../../src/core/errors.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import {
  type CallbackHandlerOptions,
  UsertrustCallbackHandler,
} from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * UsertrustCallbackHandler from usertrust/langchain: governance as a LangChain callback handler.
 * Chat-model runs are held and settled, tool runs reviewed; with blocking: true a refusal stops
 * the call. Real ChatOpenAI against the OpenAI stand-in.
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

type Vault = ReturnType<typeof makeTempVault>;

async function engineOn(budget = 100_000, policy?: string): Promise<{ vault: Vault; engine: Engine }> {
  const vault = makeTempVault({ budget });
  cleanups.push(vault.cleanup);
  if (policy !== undefined) writeFileSync(vault.paths.defaultPolicy, policy);
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(() => engine.close());
  return { vault, engine };
}

function handlerOn(engine: Engine, options: Omit<CallbackHandlerOptions, "engine"> = {}) {
  return new UsertrustCallbackHandler({ ...options, engine });
}

function chatOpenAI(): ChatOpenAI {
  return new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "test",
    configuration: { baseURL: `${server.url}/v1` },
    maxRetries: 0,
    // A hold of 1M output tokens × $0.60/M ≈ 6,000 UT covers each call's cost (a post is capped at its hold).
    maxTokens: 1_000_000,
  });
}

const DENY_WIRES = `- name: no-wires
  effect: deny
  enforcement: hard
  severity: critical
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

const receiptOn = (message: { response_metadata?: Record<string, unknown> }) =>
  message.response_metadata?.usertrust as TrustReceipt | undefined;
const kinds = (vault: Vault) => readAuditLog(vault.paths.auditLog).map((event) => event.kind);
/** LangChain logs a handler's throw with console.warn / console.error; keep the test output clean. */
const quietLangChainLogs = () => {
  vi.spyOn(console, "warn").mockImplementation(() => {});
  vi.spyOn(console, "error").mockImplementation(() => {});
};

describe("UsertrustCallbackHandler: chat-model runs", () => {
  it("holds and settles ChatOpenAI.invoke, charging the ledger, with the receipt on response_metadata", async () => {
    const { vault, engine } = await engineOn();
    const handler = handlerOn(engine);
    server.setBehaviour({
      promptTokens: 1_000_000,
      cachedTokens: 400_000,
      completionTokens: 500_000,
      reasoningTokens: 200_000,
    });
    const message = await chatOpenAI().invoke("Say hello", { callbacks: [handler] });
    expect(message.content).toBe("Hello from the stand-in.");
    // gpt-4o-mini: 600k input × $0.15/M = $0.09, 400k cached × $0.075/M = $0.03,
    // 500k output (reasoning inside) × $0.60/M = $0.30 → $0.42 = 4,200 UT.
    expect(receiptOn(message)).toMatchObject({
      cost: 4_200,
      settled: true,
      model: "gpt-4o-mini",
      provider: "openai",
      usageSource: "provider",
      budgetRemaining: 100_000 - 4_200,
      usage: { inputTokens: 600_000, outputTokens: 500_000, cacheReadTokens: 400_000, cacheWriteTokens: 0 },
    });
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    expect(events[0]?.data).toMatchObject({
      costUsertokens: 4_200,
      provider: "openai",
      model: "gpt-4o-mini",
    });
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 4_200, pendingUsertokens: 0 });
  });

  it("settles a streamed call at the usage of the aggregated message", async () => {
    const { vault, engine } = await engineOn();
    const handler = handlerOn(engine);
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 100_000 });
    let text = "";
    for await (const chunk of await chatOpenAI().stream("Say hello", { callbacks: [handler] })) {
      text += (chunk as AIMessageChunk).text;
    }
    expect(text).toBe("Hello from the stand-in.");
    // 1M input × $0.15/M = $0.15, 100k output × $0.60/M = $0.06 → 2,100 UT.
    expect(kinds(vault)).toEqual(["spend"]);
    expect(readAuditLog(vault.paths.auditLog)[0]?.data).toMatchObject({ costUsertokens: 2_100 });
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 2_100, pendingUsertokens: 0 });
  });

  it("voids the hold when the provider fails", async () => {
    const { vault, engine } = await engineOn();
    const handler = handlerOn(engine);
    server.setBehaviour({ failStatus: { status: 400, times: 1 } });
    await expect(chatOpenAI().invoke("Say hello", { callbacks: [handler] })).rejects.toThrow(
      /Stand-in failure with status 400/,
    );
    expect(kinds(vault)).toEqual(["call_failed"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });

  it("non-blocking (the default): a budget refusal is recorded but does not stop the call", async () => {
    quietLangChainLogs();
    const { vault, engine } = await engineOn(1);
    const handler = handlerOn(engine);
    const before = server.requests.length;
    const message = await chatOpenAI().invoke("Say hello", { callbacks: [handler] });
    expect(message.content).toBe("Hello from the stand-in.");
    expect(server.requests.length - before).toBe(1);
    expect(receiptOn(message)).toBeUndefined();
    expect(kinds(vault)).toEqual(["budget_exceeded"]);
  });

  it("blocking: a budget refusal rejects invoke with BudgetExceededError and sends nothing", async () => {
    quietLangChainLogs();
    const { vault, engine } = await engineOn(1);
    const handler = handlerOn(engine, { blocking: true });
    const before = server.requests.length;
    const error = await chatOpenAI()
      .invoke("Say hello", { callbacks: [handler] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(kinds(vault)).toEqual(["budget_exceeded"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });

  it("blocking: config.metadata.usertrust.scope reaches scopePatterns", async () => {
    quietLangChainLogs();
    const policy = `- name: no-mini-in-production
  effect: deny
  enforcement: hard
  severity: critical
  scopePatterns: ["production/**"]
  conditions:
    - { field: model, operator: eq, value: gpt-4o-mini }
`;
    const { vault, engine } = await engineOn(100_000, policy);
    const handler = handlerOn(engine, { blocking: true });
    const before = server.requests.length;
    const error = await chatOpenAI()
      .invoke("Say hello", { callbacks: [handler], metadata: { usertrust: { scope: "production/eu" } } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect(server.requests.length).toBe(before);
    const message = await chatOpenAI().invoke("Say hello", {
      callbacks: [handler],
      metadata: { usertrust: { scope: "staging/eu" } },
    });
    expect(receiptOn(message)?.settled).toBe(true);
    expect(kinds(vault)).toEqual(["policy_denied", "spend"]);
  });
});

describe("UsertrustCallbackHandler: totals(runId)", () => {
  it("rolls up every model call under a chain invocation's run id", async () => {
    const { engine } = await engineOn();
    const handler = handlerOn(engine);
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const model = chatOpenAI();
    const twice = RunnableLambda.from(async (input: string, config) => {
      const first = await model.invoke(input, config);
      const second = await model.invoke(`${input} again`, config);
      return [first, second] as AIMessage[];
    });
    const rootRunId = "0192f5a0-0000-7000-8000-000000000001";
    const [first, second] = await twice.invoke("Say hello", { callbacks: [handler], runId: rootRunId });
    // Two calls of 1M input tokens × $0.15/M = 1,500 UT each.
    const totals = handler.totals(rootRunId);
    expect(totals).toMatchObject({ cost: 3_000, calls: 2 });
    expect(totals.receipts.map((receipt) => receipt.transferId)).toEqual([
      receiptOn(first as AIMessage)?.transferId,
      receiptOn(second as AIMessage)?.transferId,
    ]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 3_000, pendingUsertokens: 0 });
    // Another run id knows nothing of these calls.
    expect(handler.totals("0192f5a0-0000-7000-8000-000000000002")).toMatchObject({ cost: 0, calls: 0 });
  });

  it("rolls up through nested runs of a RunnableSequence", async () => {
    const { engine } = await engineOn();
    const handler = handlerOn(engine);
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const model = chatOpenAI();
    const chain = RunnableSequence.from([
      model,
      RunnableLambda.from(async (message: AIMessageChunk, config) =>
        model.invoke(`again: ${message.text}`, config),
      ),
    ]);
    const rootRunId = "0192f5a0-0000-7000-8000-000000000003";
    await chain.invoke("Say hello", { callbacks: [handler], runId: rootRunId });
    expect(handler.totals(rootRunId)).toMatchObject({ cost: 3_000, calls: 2 });
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 3_000 });
  });
});

describe("UsertrustCallbackHandler: tool runs", () => {
  it("blocking: a denied tool throws ToolDeniedError and never runs", async () => {
    quietLangChainLogs();
    const { vault, engine } = await engineOn(100_000, DENY_WIRES);
    const handler = handlerOn(engine, { blocking: true });
    const { wire, runs } = wireTool();
    const error = await wire.invoke({ amount: 5_000 }, { callbacks: [handler] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolDeniedError);
    expect(error).toMatchObject({ toolName: "wire_money" });
    expect(runs.count).toBe(0);
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["tool_call"]);
    expect(events[0]?.data).toMatchObject({ toolName: "wire_money", approved: false });
  });

  it("blocking: config.metadata.usertrust (actor, scope) reaches the tool review, as it does model calls", async () => {
    quietLangChainLogs();
    const policy = `- name: no-wires-for-interns
  effect: deny
  enforcement: hard
  severity: high
  conditions:
    - { field: tool_name, operator: eq, value: wire_money }
    - { field: actor, operator: eq, value: intern }
`;
    const { vault, engine } = await engineOn(100_000, policy);
    const handler = handlerOn(engine, { blocking: true, actor: "payments-service" });
    const { wire, runs } = wireTool();
    expect(await wire.invoke({ amount: 5 }, { callbacks: [handler] })).toBe("sent");
    const error = await wire
      .invoke(
        { amount: 5 },
        { callbacks: [handler], metadata: { usertrust: { actor: "intern", scope: "staging/payments" } } },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolDeniedError);
    expect(runs.count).toBe(1);
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => [event.kind, event.actor, event.data.approved])).toEqual([
      ["tool_call", "payments-service", true],
      ["tool_call", "intern", false],
    ]);
    expect(events[1]?.data.scope).toEqual(["staging/payments"]);
  });

  it("non-blocking: a denied tool runs, and the refusal is audited", async () => {
    quietLangChainLogs();
    const { vault, engine } = await engineOn(100_000, DENY_WIRES);
    const handler = handlerOn(engine);
    const { wire, runs } = wireTool();
    expect(await wire.invoke({ amount: 5_000 }, { callbacks: [handler] })).toBe("sent");
    expect(runs.count).toBe(1);
    expect(readAuditLog(vault.paths.auditLog)[0]).toMatchObject({
      kind: "tool_call",
      data: { toolName: "wire_money", approved: false },
    });
  });

  it("blocking inside createAgent: model calls are charged and the denied tool becomes an error ToolMessage", async () => {
    quietLangChainLogs();
    const { vault, engine } = await engineOn(100_000, DENY_WIRES);
    const handler = handlerOn(engine, { blocking: true });
    server.setBehaviour({
      toolCall: { name: "wire_money", arguments: '{"amount":5000}' },
      reply: "The transfer was blocked.",
      promptTokens: 1_000_000,
      completionTokens: 0,
    });
    const { wire, runs } = wireTool();
    const agent = createAgent({ model: chatOpenAI(), tools: [wire] });
    const rootRunId = "0192f5a0-0000-7000-8000-000000000004";
    const { messages } = await agent.invoke(
      { messages: [{ role: "user", content: "Pay the supplier 5000." }] },
      { callbacks: [handler], runId: rootRunId },
    );
    expect(runs.count).toBe(0);
    expect(messages.map((message) => message.getType())).toEqual(["human", "ai", "tool", "ai"]);
    expect((messages[2] as ToolMessage).status).toBe("error");
    expect(String(messages[2]?.content)).toContain("ToolDeniedError");
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend", "tool_call", "spend"]);
    expect(events[1]?.data).toMatchObject({ toolName: "wire_money", approved: false });
    // Two model calls of 1M input tokens × $0.15/M = 1,500 UT each, one hold each.
    expect(handler.totals(rootRunId)).toMatchObject({ cost: 3_000, calls: 2 });
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 3_000, pendingUsertokens: 0 });
  });
});
