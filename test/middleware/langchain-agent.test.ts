import { writeFileSync } from "node:fs";
import { ChatOpenAI } from "@langchain/openai";
import { createAgent, initChatModel, MiddlewareError, type ToolMessage, tool } from "langchain";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import { BudgetExceededError, PolicyDeniedError, ToolDeniedError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import {
  type AgentMiddlewareOptions,
  runTotal,
  usertrustAgentMiddleware,
} from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * usertrustAgentMiddleware() from usertrust/langchain inside langchain's createAgent: every model
 * call is held and settled (receipt on each AIMessage in state.messages), every tool call goes
 * through the policy gate (a refusal becomes an error ToolMessage, or an error with
 * onToolDenied "throw"). Real ChatOpenAI against the OpenAI stand-in, whose first answer calls a
 * tool and whose answer to a request carrying a tool result is text.
 */

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

const DENY_WIRES = `- name: no-wires-from-agents
  effect: deny
  enforcement: hard
  severity: critical
  conditions:
    - { field: tool_name, operator: eq, value: wire_money }
`;

async function engineOn(budget = 100_000, policy?: string): Promise<{ vault: Vault; engine: Engine }> {
  const vault = makeTempVault({ budget });
  cleanups.push(vault.cleanup);
  if (policy !== undefined) writeFileSync(vault.paths.defaultPolicy, policy);
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
    // A hold of 1M output tokens × $0.60/M ≈ 6,000 UT covers each call's cost (a post is capped at its hold).
    maxTokens: 1_000_000,
  });
}

/** Two tools and a count of their runs. */
function tools() {
  const runs = { weather: 0, wire: 0 };
  const weather = tool(
    async ({ city }) => {
      runs.weather += 1;
      return `sunny in ${city}`;
    },
    { name: "get_weather", description: "Weather for a city", schema: z.object({ city: z.string() }) },
  );
  const wire = tool(
    async () => {
      runs.wire += 1;
      return "sent";
    },
    { name: "wire_money", description: "Wire money", schema: z.object({ amount: z.number() }) },
  );
  return { runs, list: [weather, wire] };
}

function agentOn(engine: Engine, options: Omit<AgentMiddlewareOptions, "engine"> = {}) {
  const { runs, list } = tools();
  const agent = createAgent({
    model: chatOpenAI(),
    tools: list,
    middleware: [usertrustAgentMiddleware({ ...options, engine })],
  });
  return { agent, runs };
}

const receiptOn = (message: { response_metadata?: Record<string, unknown> }) =>
  message.response_metadata?.usertrust as TrustReceipt | undefined;
const kinds = (vault: Vault) => readAuditLog(vault.paths.auditLog).map((event) => event.kind);
const ask = (content: string) => ({ messages: [{ role: "user", content }] });

describe("usertrustAgentMiddleware: model calls", () => {
  it("settles every model call, with a receipt on every AIMessage, and runTotal matches the ledger", async () => {
    const { vault, engine } = await engineOn();
    server.setBehaviour({
      toolCall: { name: "get_weather", arguments: '{"city":"Oslo"}' },
      reply: "It is sunny in Oslo.",
      promptTokens: 1_000_000,
      cachedTokens: 200_000,
      completionTokens: 100_000,
    });
    const { agent, runs } = agentOn(engine, { actor: "weather-agent" });
    const { messages } = await agent.invoke(ask("Weather in Oslo?"));
    expect(runs.weather).toBe(1);
    expect(messages.map((message) => message.getType())).toEqual(["human", "ai", "tool", "ai"]);
    expect(messages.at(-1)?.content).toBe("It is sunny in Oslo.");
    const ai = messages.filter((message) => message.getType() === "ai");
    // Each call: 800k input × $0.15/M = $0.12, 200k cached × $0.075/M = $0.015,
    // 100k output × $0.60/M = $0.06 → $0.195 = 1,950 UT.
    expect(ai.map((message) => receiptOn(message))).toMatchObject([
      { cost: 1_950, settled: true, usageSource: "provider", model: "gpt-4o-mini", provider: "openai" },
      { cost: 1_950, settled: true, usageSource: "provider", model: "gpt-4o-mini", provider: "openai" },
    ]);
    // The tool call the model asked for is still on the stamped message.
    expect((ai[0] as { tool_calls?: Array<{ name: string }> }).tool_calls?.map((call) => call.name)).toEqual([
      "get_weather",
    ]);
    const total = runTotal(messages);
    expect(total).toMatchObject({ cost: 3_900, calls: 2 });
    expect(await engine.balance()).toMatchObject({ postedUsertokens: total.cost, pendingUsertokens: 0 });

    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend", "tool_call", "spend"]);
    expect(events[1]).toMatchObject({
      actor: "weather-agent",
      data: { toolName: "get_weather", approved: true },
    });
    // The audit names the tool, never its arguments.
    expect(JSON.stringify(events[1])).not.toContain("Oslo");
    expect(verifyChain(vault.paths.auditLog).ok).toBe(true);
  });

  it("a budget denial inside wrapModelCall rejects with MiddlewareError caused by BudgetExceededError", async () => {
    const { vault, engine } = await engineOn(1);
    const { agent } = agentOn(engine);
    const before = server.requests.length;
    const error = await agent.invoke(ask("Weather in Oslo?")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MiddlewareError);
    expect((error as Error).cause).toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(kinds(vault)).toEqual(["budget_exceeded"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });

  it("a provider failure voids the hold and rejects the agent", async () => {
    const { vault, engine } = await engineOn();
    const { agent } = agentOn(engine);
    server.setBehaviour({ failStatus: { status: 400, times: 1 } });
    await expect(agent.invoke(ask("Weather in Oslo?"))).rejects.toThrow(/Stand-in failure with status 400/);
    expect(kinds(vault)).toEqual(["call_failed"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });
});

describe("usertrustAgentMiddleware: tool calls", () => {
  it("a denied tool never runs; the agent reads an error ToolMessage and continues", async () => {
    const { vault, engine } = await engineOn(100_000, DENY_WIRES);
    server.setBehaviour({
      toolCall: { name: "wire_money", arguments: '{"amount":5000}' },
      reply: "The transfer was blocked.",
    });
    const { agent, runs } = agentOn(engine);
    const before = server.requests.length;
    const { messages } = await agent.invoke(ask("Pay the supplier 5000."));
    expect(runs.wire).toBe(0);
    expect(messages.map((message) => message.getType())).toEqual(["human", "ai", "tool", "ai"]);
    const denial = messages[2] as ToolMessage;
    expect(denial.status).toBe("error");
    expect(denial.name).toBe("wire_money");
    expect(denial.content).toContain('Denied by usertrust: policy rule "no-wires-from-agents"');
    expect(denial.tool_call_id).toBe(
      (messages[1] as { tool_calls?: Array<{ id?: string }> }).tool_calls?.[0]?.id,
    );
    // The model was asked again, with the denial as the tool result.
    const sent = server.requests.slice(before).map((request) => request.body as { messages: unknown[] });
    expect(sent).toHaveLength(2);
    expect(JSON.stringify(sent[1]?.messages)).toContain("Denied by usertrust");
    expect(messages.at(-1)?.content).toBe("The transfer was blocked.");

    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend", "tool_call", "spend"]);
    expect(events[1]?.data).toMatchObject({ toolName: "wire_money", approved: false });
    expect(events[1]?.data.reason).toContain("no-wires-from-agents");
    expect(runTotal(messages).cost).toBe((await engine.balance()).postedUsertokens);
  });

  it('onToolDenied "throw" rejects the agent with MiddlewareError caused by ToolDeniedError', async () => {
    const { vault, engine } = await engineOn(100_000, DENY_WIRES);
    server.setBehaviour({ toolCall: { name: "wire_money", arguments: '{"amount":5000}' } });
    const { agent, runs } = agentOn(engine, { onToolDenied: "throw" });
    const before = server.requests.length;
    const error = await agent.invoke(ask("Pay the supplier 5000.")).catch((e: unknown) => e);
    expect(runs.wire).toBe(0);
    expect(error).toBeInstanceOf(MiddlewareError);
    const cause = (error as Error).cause;
    expect(cause).toBeInstanceOf(ToolDeniedError);
    expect(cause).toMatchObject({ code: "TOOL_DENIED", toolName: "wire_money" });
    // Only the first model call was made; it was settled before the tool was refused.
    expect(server.requests.length - before).toBe(1);
    expect(kinds(vault)).toEqual(["spend", "tool_call"]);
    expect(await engine.balance()).toMatchObject({ pendingUsertokens: 0 });
  });

  it("a tool the policy does not name runs, and its approval is audited", async () => {
    const { vault, engine } = await engineOn(100_000, DENY_WIRES);
    server.setBehaviour({ toolCall: { name: "get_weather", arguments: '{"city":"Oslo"}' } });
    const { agent, runs } = agentOn(engine);
    await agent.invoke(ask("Weather in Oslo?"));
    expect(runs.weather).toBe(1);
    const events = readAuditLog(vault.paths.auditLog);
    expect(events[1]).toMatchObject({ kind: "tool_call", data: { toolName: "get_weather", approved: true } });
  });
});

describe("usertrustAgentMiddleware: per-invocation context", () => {
  const PRODUCTION_ONLY = `- name: no-mini-in-production
  effect: deny
  enforcement: hard
  severity: critical
  scopePatterns: ["production/**"]
  conditions:
    - { field: model, operator: eq, value: gpt-4o-mini }
- name: no-weather-for-interns
  effect: deny
  enforcement: hard
  severity: low
  conditions:
    - { field: tool_name, operator: eq, value: get_weather }
    - { field: actor, operator: eq, value: intern }
`;

  it("agent.invoke(input, { context: { usertrust } }) reaches model-call scopePatterns", async () => {
    const { vault, engine } = await engineOn(100_000, PRODUCTION_ONLY);
    server.setBehaviour({ toolCall: { name: "get_weather", arguments: '{"city":"Oslo"}' } });
    const { agent } = agentOn(engine);
    const before = server.requests.length;
    const error = await agent
      .invoke(ask("Weather in Oslo?"), { context: { usertrust: { scope: "production/api" } } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MiddlewareError);
    expect((error as Error).cause).toBeInstanceOf(PolicyDeniedError);
    expect(server.requests.length).toBe(before);
    expect(readAuditLog(vault.paths.auditLog)[0]).toMatchObject({
      kind: "policy_denied",
      data: { rule: "no-mini-in-production", scope: ["production/api"] },
    });

    const { messages } = await agent.invoke(ask("Weather in Oslo?"), {
      context: { usertrust: { scope: "staging/api" } },
    });
    expect(runTotal(messages).calls).toBe(2);
  });

  it("the context's actor and scope reach the tool review and its audit event", async () => {
    const { vault, engine } = await engineOn(100_000, PRODUCTION_ONLY);
    server.setBehaviour({ toolCall: { name: "get_weather", arguments: '{"city":"Oslo"}' } });
    const { agent, runs } = agentOn(engine, { actor: "default-agent" });
    const { messages } = await agent.invoke(ask("Weather in Oslo?"), {
      context: { usertrust: { actor: "intern", scope: "staging/tools" } },
    });
    expect(runs.weather).toBe(0);
    expect((messages[2] as ToolMessage).status).toBe("error");
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend", "tool_call", "spend"]);
    expect(events[0]).toMatchObject({ actor: "intern", data: { scope: ["staging/tools"] } });
    expect(events[1]).toMatchObject({
      actor: "intern",
      data: { toolName: "get_weather", approved: false, scope: ["staging/tools"] },
    });

    // Without a context the middleware's default actor applies and the tool runs.
    await agent.invoke(ask("Weather in Oslo?"));
    expect(runs.weather).toBe(1);
    expect(readAuditLog(vault.paths.auditLog)[4]).toMatchObject({
      kind: "tool_call",
      actor: "default-agent",
      data: { approved: true },
    });
  });
});

describe("usertrustAgentMiddleware: vault options instead of an engine", () => {
  it("opens the vault's engine itself and charges its ledger", async () => {
    const vault = makeTempVault({ budget: 100_000 });
    cleanups.push(vault.cleanup);
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const agent = createAgent({
      model: chatOpenAI(),
      tools: [],
      middleware: [usertrustAgentMiddleware({ vaultBase: vault.base })],
    });
    const { messages } = await agent.invoke(ask("Hello"));
    // 1M input tokens × $0.15/M = 1,500 UT.
    expect(runTotal(messages)).toMatchObject({ cost: 1_500, calls: 1 });
    const { sharedEngine } = await import("../../src/core/surface/shared-engine.ts");
    await (await sharedEngine({ vaultBase: vault.base })).close();
    const ledger = new SqliteLedger({ path: vault.paths.ledger, budgetUsertokens: 100_000 });
    expect(await ledger.balance()).toMatchObject({ postedUsertokens: 1_500, pendingUsertokens: 0 });
    await ledger.close();
  });
});

describe("usertrustAgentMiddleware: models from initChatModel", () => {
  it('governs a model made by initChatModel (what createAgent builds from a string like "openai:gpt-4o-mini")', async () => {
    const { vault, engine } = await engineOn();
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const model = await initChatModel("gpt-4o-mini", {
      modelProvider: "openai",
      apiKey: "test",
      configuration: { baseURL: `${server.url}/v1` },
      maxRetries: 0,
      maxTokens: 1_000_000,
    });
    const agent = createAgent({ model, tools: [], middleware: [usertrustAgentMiddleware(engine)] });
    const result = await agent.invoke(ask("Hello")).catch((e: unknown) => e);
    // A refusal here would be a MiddlewareError whose cause says which model it could not price.
    expect((result as Error).cause).toBeUndefined();
    const { messages } = result as { messages: Array<{ response_metadata?: Record<string, unknown> }> };
    // 1M input tokens × $0.15/M = 1,500 UT, priced as gpt-4o-mini from openai.
    expect(receiptOn(messages.at(-1) ?? {})).toMatchObject({
      cost: 1_500,
      model: "gpt-4o-mini",
      provider: "openai",
    });
    expect(kinds(vault)).toEqual(["spend"]);
  });
});
