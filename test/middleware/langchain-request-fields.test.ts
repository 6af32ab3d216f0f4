import { ChatAnthropic } from "@langchain/anthropic";
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { HumanMessage } from "@langchain/core/messages";
import { ChatOpenAI, type ChatOpenAIFields } from "@langchain/openai";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { governedChatModel } from "../../src/middleware/langchain/index.ts";
import { usageOfMessage } from "../../src/middleware/langchain/messages-request.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tablePriceUsertokens } from "../support/price-table-oracle.ts";
import { anthropicMessageBody, chatCompletionBody, responseBody } from "../support/provider-bodies.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// A LangChain chat model carries the request fields trust() reads in a request body: ChatOpenAI's
// `service_tier`, `modalities` and `modelKwargs` (`max_tool_calls`), ChatAnthropic's
// `inferenceGeo` and `invocationKwargs` (`speed`), and the provider tools bound to it. The hold
// must read them, and the settle the tier OpenAI says served the call.
//
// gpt-5 standard (the bundled table): $1.25 / $10 per million input / output tokens; priority
// (https://openai.com/api-priority-processing/): $2.50 / $20. 10,000 in + 1,000 out at priority:
// 25,000 + 20,000 µ$ = 450 UT.
const MODEL = "gpt-5";
const INPUT = 10_000;
const OUTPUT = 1_000;
const PRIORITY_UT = (INPUT * 2.5 + OUTPUT * 20) / 100;
const CAP = 4_000;

const server = useFixedServer();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function chatOpenAI(fields: Partial<ChatOpenAIFields> = {}): ChatOpenAI {
  return new ChatOpenAI({
    model: MODEL,
    apiKey: "test",
    configuration: { baseURL: `${server.url}/v1` },
    maxRetries: 0,
    maxTokens: CAP,
    ...fields,
  });
}

function chatAnthropic(model: string, fields: Record<string, unknown> = {}): ChatAnthropic {
  return new ChatAnthropic({
    model,
    apiKey: "test",
    anthropicApiUrl: server.url,
    maxRetries: 0,
    maxTokens: CAP,
    ...fields,
  });
}

/** One governed call on a fresh vault: the hold its spend event records, and its receipt. */
async function governedCall(
  model: BaseChatModel,
  tools?: unknown[],
  stream = false,
  content: string | Array<Record<string, unknown>> = "Summarize the report",
): Promise<{ held: number; receipt: TrustReceipt }> {
  const vault = makeTempVault({ budget: 10_000_000 });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  const governed = governedChatModel(model, engine);
  const runnable = tools === undefined ? governed : governed.bindTools(tools as never);
  const input = [new HumanMessage({ content: content as never })];
  let metadata: Record<string, unknown> = {};
  if (stream) {
    for await (const chunk of await runnable.stream(input))
      metadata = { ...metadata, ...chunk.response_metadata };
  } else {
    metadata = (await runnable.invoke(input)).response_metadata;
  }
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return { held: spend?.data.holdUsertokens as number, receipt: metadata.usertrust as TrustReceipt };
}

function completion(tier: string) {
  return chatCompletionBody({ model: MODEL, tier, usage: { input: INPUT, output: OUTPUT } });
}

function response(tier: string, status = "completed") {
  return responseBody({ model: MODEL, tier, usage: { input: INPUT, output: OUTPUT }, status });
}

function anthropicMessage(model: string) {
  return anthropicMessageBody(model);
}

describe("LangChain holds read the model's request fields as trust() reads the request body", () => {
  it("ChatOpenAI service_tier: 'priority' holds gpt-5 at twice the standard rates", async () => {
    server.answer({ json: completion("priority") });
    const standard = await governedCall(chatOpenAI());
    const priority = await governedCall(chatOpenAI({ service_tier: "priority" }));
    expect(priority.held).toBeGreaterThanOrEqual(2 * standard.held - 1);
    expect(priority.held).toBeLessThanOrEqual(2 * standard.held);
  });

  it("a per-call service_tier (invoke(messages, { service_tier })) is held at the priority rates too", async () => {
    server.answer({ json: completion("priority") });
    const standard = await governedCall(chatOpenAI());
    const vault = makeTempVault({ budget: 10_000_000 });
    const engine = await createEngine({ vaultBase: vault.base });
    cleanups.push(async () => {
      await engine.close();
      vault.cleanup();
    });
    await governedChatModel(chatOpenAI(), engine).invoke([new HumanMessage("Summarize the report")], {
      service_tier: "priority",
    } as never);
    const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
    expect(spend?.data.holdUsertokens as number).toBeGreaterThanOrEqual(2 * standard.held - 1);
  });

  it("a bound OpenAI web search tool is held at modelKwargs.max_tool_calls searches", async () => {
    server.answer({ json: response("default") });
    const held = async (maxToolCalls: number) =>
      (
        await governedCall(chatOpenAI({ modelKwargs: { max_tool_calls: maxToolCalls } }), [
          { type: "web_search" },
        ])
      ).held;
    const fees = tablePriceUsertokens("openai", MODEL, { web_searches: 2 });
    expect((await held(4)) - (await held(2))).toBe(fees);
  });

  it("ChatAnthropic invocationKwargs speed: 'fast' holds claude-opus-4-8 at 2×", async () => {
    server.answer({ json: anthropicMessage("claude-opus-4-8") });
    const standard = await governedCall(chatAnthropic("claude-opus-4-8"));
    const fast = await governedCall(
      chatAnthropic("claude-opus-4-8", { invocationKwargs: { speed: "fast" } }),
    );
    expect(fast.held).toBeGreaterThanOrEqual(2 * standard.held - 1);
    expect(fast.held).toBeLessThanOrEqual(2 * standard.held);
  });

  it("ChatAnthropic inferenceGeo: 'us' holds at 1.1×", async () => {
    server.answer({ json: anthropicMessage("claude-sonnet-4-6") });
    const standard = await governedCall(chatAnthropic("claude-sonnet-4-6"));
    const us = await governedCall(chatAnthropic("claude-sonnet-4-6", { inferenceGeo: "us" }));
    expect(us.held).toBeGreaterThanOrEqual(Math.floor(1.1 * standard.held) - 1);
    expect(us.held).toBeLessThanOrEqual(Math.ceil(1.1 * standard.held) + 1);
  });

  it("a bound Anthropic web search tool is held at its max_uses searches", async () => {
    server.answer({ json: anthropicMessage("claude-sonnet-4-6") });
    const held = async (maxUses: number) =>
      (
        await governedCall(chatAnthropic("claude-sonnet-4-6"), [
          { type: "web_search_20250305", name: "web_search", max_uses: maxUses },
        ])
      ).held;
    const fees = tablePriceUsertokens("anthropic", "claude-sonnet-4-6", { web_searches: 2 });
    expect((await held(5)) - (await held(3))).toBe(fees);
  });

  it("an Anthropic cache_control block holds the prompt at the cache-write rate", async () => {
    server.answer({ json: anthropicMessage("claude-sonnet-4-6") });
    const report = "quarterly figures ".repeat(2_000);
    const held = async (cacheControl?: { type: "ephemeral"; ttl?: "1h" }) => {
      const block = {
        type: "text",
        text: report,
        ...(cacheControl === undefined ? {} : { cache_control: cacheControl }),
      };
      return (await governedCall(chatAnthropic("claude-sonnet-4-6"), undefined, false, [block])).held;
    };
    const plain = await held();
    const fiveMinutes = (await held({ type: "ephemeral" })) - plain;
    const oneHour = (await held({ type: "ephemeral", ttl: "1h" })) - plain;
    // 5-minute writes cost 1.25× input, 1-hour writes 2×: the 1-hour premium is four times the other.
    expect(fiveMinutes).toBeGreaterThan(0);
    expect(Math.abs(oneHour - 4 * fiveMinutes)).toBeLessThanOrEqual(4);
  });

  it("ChatOpenAI n: 3 holds the output cap three times", async () => {
    const answer = completion("default");
    server.answer({
      json: { ...answer, choices: [0, 1, 2].map((index) => ({ ...answer.choices[0], index })) },
    });
    const one = await governedCall(chatOpenAI());
    const three = await governedCall(chatOpenAI({ n: 3 }));
    // Two more caps at gpt-5's output rate.
    const caps = tablePriceUsertokens("openai", MODEL, { output_tokens: 2 * CAP });
    expect(Math.abs(three.held - one.held - caps)).toBeLessThanOrEqual(1);
  });
});

describe("LangChain settles OpenAI calls at the tier that served them", () => {
  it("a Responses reply served at priority", async () => {
    server.answer({ json: response("priority") });
    const { receipt } = await governedCall(chatOpenAI({ useResponsesApi: true, service_tier: "priority" }));
    expect(receipt.cost).toBe(PRIORITY_UT);
  });

  it("a Responses stream served at priority", async () => {
    const created = { ...response("auto", "in_progress"), output: [], usage: null };
    server.answer({
      sse: [
        {
          event: "response.created",
          data: { type: "response.created", sequence_number: 0, response: created },
        },
        {
          event: "response.completed",
          data: { type: "response.completed", sequence_number: 1, response: response("priority") },
        },
      ],
    });
    const { receipt } = await governedCall(
      chatOpenAI({ useResponsesApi: true, service_tier: "priority" }),
      undefined,
      true,
    );
    expect(receipt.usage.tokenRatePercent).toBe(200);
    expect(receipt.cost).toBe(PRIORITY_UT);
  });

  it("a chat stream served at flex is charged half the standard rates", async () => {
    const chunk = (fields: Record<string, unknown>) => ({
      data: {
        id: "c1",
        object: "chat.completion.chunk",
        created: 1,
        model: MODEL,
        service_tier: "flex",
        ...fields,
      },
    });
    server.answer({
      sse: [
        chunk({
          choices: [{ index: 0, delta: { role: "assistant", content: "hello" }, finish_reason: null }],
        }),
        chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
        chunk({
          choices: [],
          usage: { prompt_tokens: INPUT, completion_tokens: OUTPUT, total_tokens: INPUT + OUTPUT },
        }),
      ],
      done: true,
    });
    const { receipt } = await governedCall(chatOpenAI({ service_tier: "flex" }), undefined, true);
    const standard = tablePriceUsertokens("openai", MODEL, { input_tokens: INPUT, output_tokens: OUTPUT });
    expect(receipt.cost).toBe(Math.ceil(standard / 2));
  });

  it("a whole chat completion, whose metadata names no tier, is priced at the tier the request asked for", () => {
    const message = {
      usage_metadata: { input_tokens: INPUT, output_tokens: OUTPUT, total_tokens: INPUT + OUTPUT },
      response_metadata: { model_provider: "openai", model_name: MODEL },
    };
    expect(usageOfMessage(message, 200)?.tokenRatePercent).toBe(200);
    expect(usageOfMessage(message)?.tokenRatePercent).toBeUndefined();
  });
});
