import { writeFileSync } from "node:fs";
import { ChatAnthropic } from "@langchain/anthropic";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import { AIMessageChunk } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { ChatOpenAI } from "@langchain/openai";
import { createAgent } from "langchain";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import { BudgetExceededError, PolicyDeniedError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { sharedEngine } from "../../src/core/surface/shared-engine.ts";
import { governedChatModel, runTotal } from "../../src/middleware/langchain/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * governedChatModel() from usertrust/langchain: a BaseChatModel that wraps any LangChain chat model
 * and governs invoke, batch, stream and streamEvents. Real @langchain/openai / @langchain/anthropic
 * (and the provider SDKs under them) against the local stand-ins; asserted is what a user sees:
 * the receipt on response_metadata.usertrust, the ledger balance, the audit log, and what reached
 * the server.
 */

let server: OpenAIStandIn;
let anthropic: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  [server, anthropic] = await Promise.all([startOpenAIStandIn(), startAnthropicStandIn()]);
});
afterAll(async () => {
  await Promise.all([server.close(), anthropic.close()]);
});
afterEach(async () => {
  server.setBehaviour({});
  anthropic.setBehaviour({});
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

function chatOpenAI(fields: { maxRetries?: number; model?: string } = {}): ChatOpenAI {
  return new ChatOpenAI({
    model: fields.model ?? "gpt-4o-mini",
    apiKey: "test",
    configuration: { baseURL: `${server.url}/v1` },
    maxRetries: fields.maxRetries ?? 0,
    // A hold of 1M output tokens × $0.60/M ≈ 6,000 UT covers every cost below (a post is capped at its hold).
    maxTokens: 1_000_000,
  });
}

const kinds = (vault: Vault) => readAuditLog(vault.paths.auditLog).map((event) => event.kind);
const receiptOn = (message: { response_metadata?: Record<string, unknown> }) =>
  message.response_metadata?.usertrust as TrustReceipt | undefined;

describe("governedChatModel: invoke", () => {
  it("puts a receipt priced from usage_metadata (cached and reasoning tokens) on response_metadata", async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    server.setBehaviour({
      promptTokens: 1_000_000,
      cachedTokens: 400_000,
      completionTokens: 500_000,
      reasoningTokens: 200_000,
    });
    const message = await model.invoke("Say hello");
    expect(message.content).toBe("Hello from the stand-in.");
    // gpt-4o-mini: 600k uncached input × $0.15/M = $0.09, 400k cached × $0.075/M = $0.03,
    // 500k output (the 200k reasoning tokens are inside it) × $0.60/M = $0.30 → $0.42 = 4,200 UT.
    const receipt = receiptOn(message);
    expect(receipt).toMatchObject({
      cost: 4_200,
      settled: true,
      model: "gpt-4o-mini",
      provider: "openai",
      usageSource: "provider",
      budgetRemaining: 100_000 - 4_200,
      chainPath: vault.paths.auditLog,
    });
    expect(receipt?.usage).toEqual({
      inputTokens: 600_000,
      outputTokens: 500_000,
      cacheReadTokens: 400_000,
      cacheWriteTokens: 0,
    });
    // The provider's usage is still on the message.
    expect(message.usage_metadata).toMatchObject({ input_tokens: 1_000_000, output_tokens: 500_000 });
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    expect(events[0]).toMatchObject({ hash: receipt?.auditHash, data: { costUsertokens: 4_200 } });
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 4_200, pendingUsertokens: 0 });
    expect(verifyChain(vault.paths.auditLog).ok).toBe(true);
  });

  it("opens and shares the vault's engine when given options instead of an engine", async () => {
    const vault = makeTempVault({ budget: 100_000 });
    cleanups.push(vault.cleanup);
    const model = governedChatModel(chatOpenAI(), { vaultBase: vault.base });
    cleanups.push(async () => (await sharedEngine({ vaultBase: vault.base })).close());
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const first = await model.invoke("Say hello");
    const second = await governedChatModel(chatOpenAI(), { vaultBase: vault.base }).invoke("Say hello");
    // 1M input tokens × $0.15/M = 1,500 UT each; the second sees the first's spend.
    expect(receiptOn(first)).toMatchObject({ cost: 1_500, budgetRemaining: 98_500 });
    expect(receiptOn(second)).toMatchObject({ cost: 1_500, budgetRemaining: 97_000 });
    await (await sharedEngine({ vaultBase: vault.base })).close();
    const ledger = new SqliteLedger({ path: vault.paths.ledger, budgetUsertokens: 100_000 });
    expect(await ledger.balance()).toMatchObject({ postedUsertokens: 3_000, pendingUsertokens: 0 });
    await ledger.close();
  });

  it("a budget denial rejects with BudgetExceededError and nothing reaches the server", async () => {
    const { vault, engine } = await engineOn(1);
    const model = governedChatModel(chatOpenAI(), engine);
    const before = server.requests.length;
    const error = await model.invoke("Say hello").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(kinds(vault)).toEqual(["budget_exceeded"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });

  it("a policy denial rejects with PolicyDeniedError and nothing reaches the server", async () => {
    const policy = `- name: no-mini
  effect: deny
  enforcement: hard
  severity: high
  conditions:
    - { field: model, operator: eq, value: gpt-4o-mini }
`;
    const { vault, engine } = await engineOn(100_000, policy);
    const model = governedChatModel(chatOpenAI(), engine);
    const before = server.requests.length;
    const error = await model.invoke("Say hello").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect(error).toMatchObject({ rule: "no-mini" });
    expect(server.requests.length).toBe(before);
    expect(kinds(vault)).toEqual(["policy_denied"]);
  });

  it("voids the hold and rethrows the provider's error", async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    server.setBehaviour({ failStatus: { status: 400, times: 1 } });
    await expect(model.invoke("Say hello")).rejects.toThrow(/Stand-in failure with status 400/);
    expect(kinds(vault)).toEqual(["call_failed"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });

  const PRODUCTION_ONLY = `- name: no-mini-in-production
  effect: deny
  enforcement: hard
  severity: critical
  scopePatterns: ["production/**"]
  conditions:
    - { field: model, operator: eq, value: gpt-4o-mini }
`;

  /** Production is refused, staging and no scope go through; the audit names the scope and actor. */
  async function checkScopes(config: { callbacks?: BaseCallbackHandler[] }): Promise<void> {
    const { vault, engine } = await engineOn(100_000, PRODUCTION_ONLY);
    const model = governedChatModel(chatOpenAI(), engine);
    const before = server.requests.length;
    const error = await model
      .invoke("Say hello", {
        ...config,
        metadata: { usertrust: { scope: "production/api", actor: "svc-api" } },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect(server.requests.length).toBe(before);

    const staging = await model.invoke("Say hello", {
      ...config,
      metadata: { usertrust: { scope: "staging/api" } },
    });
    expect(receiptOn(staging)?.settled).toBe(true);
    const unscoped = await model.invoke("Say hello", config);
    expect(receiptOn(unscoped)?.settled).toBe(true);
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["policy_denied", "spend", "spend"]);
    expect(events[0]).toMatchObject({
      actor: "svc-api",
      data: { rule: "no-mini-in-production", scope: ["production/api"] },
    });
    expect(events[1]?.data.scope).toEqual(["staging/api"]);
  }

  it("config.metadata.usertrust (scope, actor) reaches scopePatterns when the call has a callback handler", async () => {
    await checkScopes({ callbacks: [BaseCallbackHandler.fromMethods({})] });
  });

  it("config.metadata.usertrust (scope, actor) reaches scopePatterns on a plain invoke", async () => {
    // No callbacks anywhere: LangChain then creates no run manager, which is where the model reads metadata.
    await checkScopes({});
  });

  it("a caller's callback handler sees exactly one chat-model run per call", async () => {
    const { engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    const starts: string[] = [];
    const ends: number[] = [];
    const handler = BaseCallbackHandler.fromMethods({
      handleChatModelStart: async (llm) => {
        starts.push(String(llm.id.at(-1)));
      },
      handleLLMEnd: async (output) => {
        const generation = output.generations[0]?.[0] as
          | { message?: { response_metadata?: Record<string, unknown> } }
          | undefined;
        ends.push(receiptOn(generation?.message ?? {})?.cost ?? -1);
      },
    });
    await model.invoke("Say hello", { callbacks: [handler] });
    const chunks = await model.stream("Say hello", { callbacks: [handler] });
    for await (const _ of chunks) {
      // drain
    }
    expect(starts).toEqual(["GovernedChatModel", "GovernedChatModel"]);
    expect(ends).toHaveLength(2);
    expect(ends.every((cost) => cost >= 0)).toBe(true);
  });
});

describe("governedChatModel: batch", () => {
  it("places one hold per input and settles each", async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const before = server.requests.length;
    const messages = await model.batch(["one", "two", "three"]);
    expect(server.requests.length - before).toBe(3);
    const receipts = messages.map((message) => receiptOn(message));
    // 1M input tokens × $0.15/M = 1,500 UT each.
    expect(receipts.map((receipt) => receipt?.cost)).toEqual([1_500, 1_500, 1_500]);
    expect(new Set(receipts.map((receipt) => receipt?.transferId)).size).toBe(3);
    expect(kinds(vault)).toEqual(["spend", "spend", "spend"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 4_500, pendingUsertokens: 0 });
    expect(runTotal(messages)).toMatchObject({ cost: 4_500, calls: 3 });
  });
});

describe("governedChatModel: stream", () => {
  it("carries the receipt on the last chunk, so the aggregated message has it", async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    server.setBehaviour({
      promptTokens: 1_000_000,
      cachedTokens: 400_000,
      completionTokens: 500_000,
      reasoningTokens: 200_000,
    });
    let aggregate: AIMessageChunk | undefined;
    const texts: string[] = [];
    for await (const chunk of await model.stream("Say hello")) {
      texts.push(chunk.text);
      aggregate = aggregate === undefined ? chunk : aggregate.concat(chunk);
    }
    expect(texts.join("")).toBe("Hello from the stand-in.");
    // Same usage as the invoke test: $0.09 + $0.03 + $0.30 = 4,200 UT.
    const receipt = receiptOn(aggregate ?? new AIMessageChunk(""));
    expect(receipt).toMatchObject({ cost: 4_200, settled: true, usageSource: "provider" });
    expect(receipt?.usage).toEqual({
      inputTokens: 600_000,
      outputTokens: 500_000,
      cacheReadTokens: 400_000,
      cacheWriteTokens: 0,
    });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 4_200, pendingUsertokens: 0 });
  });

  it("a consumer that breaks early still settles the hold (at an estimate of what was generated)", async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    server.setBehaviour({ replyChunks: ["one ", "two ", "three ", "four ", "five "], chunkDelayMs: 20 });
    let seen = 0;
    for await (const chunk of await model.stream("Count")) {
      if (chunk.text !== "") seen += 1;
      if (seen === 2) break;
    }
    // Leaving the loop waits for the stream's cleanup: the hold is settled by then.
    expect(await engine.balance()).toMatchObject({ pendingUsertokens: 0 });
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    // The prompt estimate ("Count": ceil(5 bytes / 3) + 4 per message = 6 tokens) and what was
    // generated: the 8 bytes the consumer read ("one two ", ceil(8 / 3) = 3 tokens), plus at most
    // the one chunk LangChain's stream reads ahead ("three ": 14 bytes, 5 tokens); not the whole
    // reply (24 bytes, 8 tokens). At gpt-4o-mini rates that rounds up to 1 UT.
    const data = events[0]?.data as { usage: TrustReceipt["usage"] } & Record<string, unknown>;
    expect(data).toMatchObject({ usageSource: "estimated", costUsertokens: 1 });
    expect(data.usage.inputTokens).toBe(6);
    expect(data.usage.outputTokens).toBeGreaterThanOrEqual(3);
    expect(data.usage.outputTokens).toBeLessThanOrEqual(5);
    const posted = (await engine.balance()).postedUsertokens;
    expect(posted).toBe(events[0]?.data.costUsertokens);
    expect(posted).toBeGreaterThan(0);
  });

  it("a mid-stream failure settles what was received and surfaces the error", async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    server.setBehaviour({ replyChunks: ["one ", "two ", "three ", "four "], failAfterChunks: 2 });
    const texts: string[] = [];
    const error = await (async () => {
      for await (const chunk of await model.stream("Count")) texts.push(chunk.text);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(texts.join("")).toBe("one two ");
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    // Settled at what arrived: 6 prompt tokens (estimate) and ceil(8 bytes / 3) = 3 output tokens.
    expect(events[0]?.data).toMatchObject({
      usageSource: "estimated",
      usage: { inputTokens: 6, outputTokens: 3 },
      costUsertokens: 1,
    });
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 1 });
    expect(await engine.balance()).toMatchObject({ pendingUsertokens: 0 });
  });

  it("a failure before the first chunk voids the hold", async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    server.setBehaviour({ failStatus: { status: 400, times: 1 } });
    const error = await (async () => {
      for await (const _ of await model.stream("Say hello")) {
        // drain
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(kinds(vault)).toEqual(["call_failed"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });

  it("a budget denial rejects the stream before any request", async () => {
    const { vault, engine } = await engineOn(1);
    const model = governedChatModel(chatOpenAI(), engine);
    const before = server.requests.length;
    const error = await (async () => {
      for await (const _ of await model.stream("Say hello")) {
        // drain
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(kinds(vault)).toEqual(["budget_exceeded"]);
  });
});

describe("governedChatModel: streamEvents", () => {
  it('version "v2" is governed: settled with a receipt, and a denied call sends nothing', async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    let output: AIMessageChunk | undefined;
    let text = "";
    for await (const event of model.streamEvents("Say hello", { version: "v2" })) {
      if (event.event === "on_chat_model_stream") text += (event.data.chunk as AIMessageChunk).text;
      if (event.event === "on_chat_model_end") output = event.data.output as AIMessageChunk;
    }
    expect(text).toBe("Hello from the stand-in.");
    // 1M input tokens × $0.15/M = 1,500 UT.
    expect(receiptOn(output ?? new AIMessageChunk(""))).toMatchObject({ cost: 1_500, settled: true });
    expect(kinds(vault)).toEqual(["spend"]);

    const denied = await engineOn(1);
    const deniedModel = governedChatModel(chatOpenAI(), denied.engine);
    const before = server.requests.length;
    const error = await (async () => {
      for await (const _ of deniedModel.streamEvents("Say hello", { version: "v2" })) {
        // drain
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(kinds(denied.vault)).toEqual(["budget_exceeded"]);
  });

  it("without a version (the content-block protocol, which runs no callbacks) it is governed too", async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI(), engine);
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const message = await model.streamEvents("Say hello");
    expect(message.text).toBe("Hello from the stand-in.");
    expect(kinds(vault)).toEqual(["spend"]);
    // 1M input tokens × $0.15/M = 1,500 UT.
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 1_500, pendingUsertokens: 0 });

    const denied = await engineOn(1);
    const deniedModel = governedChatModel(chatOpenAI(), denied.engine);
    const before = server.requests.length;
    const error = await Promise.resolve(deniedModel.streamEvents("Say hello")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(kinds(denied.vault)).toEqual(["budget_exceeded"]);
  });
});

describe("governedChatModel: bindTools and createAgent", () => {
  it("keeps governance through bindTools: every agent model call is held, settled and stamped", async () => {
    const { vault, engine } = await engineOn();
    server.setBehaviour({
      toolCall: { name: "get_weather", arguments: '{"city":"Oslo"}' },
      reply: "It is sunny in Oslo.",
      promptTokens: 1_000_000,
      completionTokens: 0,
    });
    let ran = 0;
    const weather = tool(
      async ({ city }) => {
        ran += 1;
        return `sunny in ${city}`;
      },
      { name: "get_weather", description: "Weather for a city", schema: z.object({ city: z.string() }) },
    );
    const agent = createAgent({ model: governedChatModel(chatOpenAI(), engine), tools: [weather] });
    const before = server.requests.length;
    const { messages } = await agent.invoke({ messages: [{ role: "user", content: "Weather in Oslo?" }] });
    expect(ran).toBe(1);
    expect(messages.map((message) => message.getType())).toEqual(["human", "ai", "tool", "ai"]);
    // The tools reached the provider: bindTools went through to the wrapped ChatOpenAI.
    const sent = server.requests.slice(before).map((request) => request.body as { tools?: unknown[] });
    expect(sent).toHaveLength(2);
    expect(sent.every((body) => body.tools?.length === 1)).toBe(true);
    // Two calls of 1M input tokens × $0.15/M = 1,500 UT each.
    const ai = messages.filter((message) => message.getType() === "ai");
    expect(ai.map((message) => receiptOn(message)?.cost)).toEqual([1_500, 1_500]);
    expect(runTotal(messages)).toMatchObject({ cost: 3_000, calls: 2 });
    expect(kinds(vault)).toEqual(["spend", "spend"]);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 3_000, pendingUsertokens: 0 });
  });

  it("bindTools on a governed model keeps the denial: nothing is sent", async () => {
    const { engine } = await engineOn(1);
    const weather = tool(async () => "sunny", {
      name: "get_weather",
      description: "Weather",
      schema: z.object({ city: z.string() }),
    });
    const bound = governedChatModel(chatOpenAI(), engine).bindTools([weather]);
    const before = server.requests.length;
    await expect(bound.invoke("Weather?")).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
  });
});

describe("governedChatModel: SDK retries", () => {
  it("ChatOpenAI's maxRetries happen inside one governed call: one hold, settled once", async () => {
    const { vault, engine } = await engineOn();
    const model = governedChatModel(chatOpenAI({ maxRetries: 2 }), engine);
    server.setBehaviour({ failStatus: { status: 500, times: 1, retryAfterMs: 1 } });
    const before = server.requests.length;
    const message = await model.invoke("Say hello");
    expect(server.requests.length - before).toBe(2);
    expect(receiptOn(message)?.settled).toBe(true);
    expect(kinds(vault)).toEqual(["spend"]);
    const balance = await engine.balance();
    expect(balance.pendingUsertokens).toBe(0);
    expect(balance.postedUsertokens).toBe(receiptOn(message)?.cost);
  });
});

describe("governedChatModel over ChatAnthropic", () => {
  it("prices cache reads and writes out of usage_metadata's input_tokens, once each", async () => {
    const { engine } = await engineOn();
    const model = governedChatModel(
      new ChatAnthropic({
        model: "claude-3-5-haiku-20241022",
        apiKey: "test",
        anthropicApiUrl: anthropic.url,
        maxRetries: 0,
        maxTokens: 100,
      }),
      engine,
    );
    anthropic.setBehaviour({
      inputTokens: 100_000,
      cacheReadInputTokens: 1_000_000,
      cacheCreationInputTokens: 100_000,
      outputTokens: 100_000,
    });
    const message = await model.invoke("Say hello");
    expect(message.text).toBe("Hello from the stand-in.");
    // claude-3-5-haiku: 100k input × $0.80/M = $0.08, 1M cache reads × $0.08/M = $0.08,
    // 100k 5-minute cache writes × $1.00/M = $0.10, 100k output × $4/M = $0.40 → $0.66 = 6,600 UT.
    const receipt = receiptOn(message);
    expect(receipt?.usage).toEqual({
      inputTokens: 100_000,
      outputTokens: 100_000,
      cacheReadTokens: 1_000_000,
      cacheWriteTokens: 100_000,
    });
    expect(receipt).toMatchObject({ cost: 6_600, provider: "anthropic", settled: true });
  });
});
