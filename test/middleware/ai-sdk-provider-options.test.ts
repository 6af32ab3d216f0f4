import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import type { LanguageModelV4, LanguageModelV4CallOptions } from "@ai-sdk/provider";
import { generateText, type ToolSet } from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { usageFromV4 } from "../../src/middleware/ai-sdk/call-usage.ts";
import { governModel } from "../../src/middleware/ai-sdk/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tablePriceUsertokens } from "../support/price-table-oracle.ts";
import { anthropicMessageBody, responseBody } from "../support/provider-bodies.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// trust() holds a call at what its request body lets it cost: OpenAI `service_tier: "priority"` (a
// multiple of the standard rates), Anthropic `speed: "fast"` / `inference_geo: "us"`, and the fees
// of the searches its web search tools may run. Through the AI SDK the same fields are provider
// options and provider tools; the hold must read them there.

const server = useFixedServer();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const openai = () => createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
const anthropic = () => createAnthropic({ baseURL: `${server.url}/v1`, apiKey: "test" });

type CallOptions = Partial<Parameters<typeof generateText>[0]>;

/** One governed generateText on a fresh vault: the hold its spend event records. */
async function heldFor(model: LanguageModelV4, options: CallOptions): Promise<number> {
  const vault = makeTempVault({ budget: 10_000_000 });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  const prompt = options.messages === undefined ? { prompt: "Summarize the report" } : {};
  await generateText({ model: governModel(model, engine), ...prompt, ...options } as never);
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return spend?.data.holdUsertokens as number;
}

function openAIResponse(tier: string, usage = { input: 10, output: 10 }) {
  return responseBody({ model: "gpt-5", tier, usage });
}

function anthropicMessage(model: string, usage: Record<string, unknown> = {}) {
  return anthropicMessageBody(model, usage);
}

const CAP = 4_000;

describe("AI SDK holds read the provider's options as trust() reads the request body", () => {
  it("OpenAI serviceTier: 'priority' holds gpt-5 at twice the standard rates", async () => {
    server.answer({ json: openAIResponse("priority") });
    const standard = await heldFor(openai().responses("gpt-5"), { maxOutputTokens: CAP });
    const priority = await heldFor(openai().responses("gpt-5"), {
      maxOutputTokens: CAP,
      providerOptions: { openai: { serviceTier: "priority" } },
    });
    expect(priority).toBeGreaterThanOrEqual(2 * standard - 1);
    expect(priority).toBeLessThanOrEqual(2 * standard);
  });

  it("OpenAI serviceTier: 'flex' is held at the standard rates (the discount is settled, not assumed)", async () => {
    server.answer({ json: openAIResponse("flex") });
    const standard = await heldFor(openai().responses("gpt-5"), { maxOutputTokens: CAP });
    const flex = await heldFor(openai().responses("gpt-5"), {
      maxOutputTokens: CAP,
      providerOptions: { openai: { serviceTier: "flex" } },
    });
    expect(flex).toBe(standard);
  });

  it("the OpenAI web search tool is held at maxToolCalls searches", async () => {
    server.answer({ json: openAIResponse("default") });
    const held = (maxToolCalls: number) =>
      heldFor(openai().responses("gpt-5"), {
        maxOutputTokens: CAP,
        tools: { web_search: openai().tools.webSearch({}) } as ToolSet,
        providerOptions: { openai: { maxToolCalls } },
      });
    // Two more searches at gpt-5's web search fee (the table's web_searches_kcount).
    const fees = tablePriceUsertokens("openai", "gpt-5", { web_searches: 2 });
    expect((await held(4)) - (await held(2))).toBe(fees);
  });

  it("Anthropic speed: 'fast' holds claude-opus-4-8 at its fast-mode multiple (2×)", async () => {
    server.answer({ json: anthropicMessage("claude-opus-4-8", { speed: "fast" }) });
    const standard = await heldFor(anthropic()("claude-opus-4-8"), { maxOutputTokens: CAP });
    const fast = await heldFor(anthropic()("claude-opus-4-8"), {
      maxOutputTokens: CAP,
      providerOptions: { anthropic: { speed: "fast" } },
    });
    expect(fast).toBeGreaterThanOrEqual(2 * standard - 1);
    expect(fast).toBeLessThanOrEqual(2 * standard);
  });

  it("Anthropic inferenceGeo: 'us' holds at 1.1×", async () => {
    server.answer({ json: anthropicMessage("claude-sonnet-4-6", { inference_geo: "us" }) });
    const standard = await heldFor(anthropic()("claude-sonnet-4-6"), { maxOutputTokens: CAP });
    const us = await heldFor(anthropic()("claude-sonnet-4-6"), {
      maxOutputTokens: CAP,
      providerOptions: { anthropic: { inferenceGeo: "us" } },
    });
    expect(us).toBeGreaterThanOrEqual(Math.floor(1.1 * standard) - 1);
    expect(us).toBeLessThanOrEqual(Math.ceil(1.1 * standard) + 1);
  });

  it("the Anthropic web search tool is held at its maxUses searches", async () => {
    server.answer({ json: anthropicMessage("claude-sonnet-4-6") });
    const held = (maxUses: number) =>
      heldFor(anthropic()("claude-sonnet-4-6"), {
        maxOutputTokens: CAP,
        tools: { web_search: anthropic().tools.webSearch_20250305({ maxUses }) } as ToolSet,
      });
    const fees = tablePriceUsertokens("anthropic", "claude-sonnet-4-6", { web_searches: 2 });
    expect((await held(5)) - (await held(3))).toBe(fees);
  });

  it("an Anthropic cacheControl on a message holds the prompt at the cache-write rate", async () => {
    server.answer({ json: anthropicMessage("claude-sonnet-4-6") });
    const report = "quarterly figures ".repeat(2_000);
    const held = (cacheControl?: { type: "ephemeral"; ttl?: "1h" }) =>
      heldFor(anthropic()("claude-sonnet-4-6"), {
        maxOutputTokens: CAP,
        messages: [
          {
            role: "user",
            content: report,
            ...(cacheControl === undefined ? {} : { providerOptions: { anthropic: { cacheControl } } }),
          },
        ],
      });
    const plain = await held();
    const fiveMinutes = (await held({ type: "ephemeral" })) - plain;
    const oneHour = (await held({ type: "ephemeral", ttl: "1h" })) - plain;
    // 5-minute writes cost 1.25× input, 1-hour writes 2×: the 1-hour premium is four times the other.
    expect(fiveMinutes).toBeGreaterThan(0);
    expect(Math.abs(oneHour - 4 * fiveMinutes)).toBeLessThanOrEqual(4);
  });
});

// The settle reads the tier that served the call from what @ai-sdk/openai returns: the real
// provider's doGenerate / doStream against the stand-in, then usageFromV4 as the middleware calls it.
const callOptions: LanguageModelV4CallOptions = {
  prompt: [{ role: "user", content: [{ type: "text", text: "Summarize the report" }] }],
};

describe("AI SDK settles OpenAI calls at the tier that served them", () => {
  it("a Responses result names its tier in providerMetadata.openai.serviceTier", async () => {
    server.answer({ json: openAIResponse("priority", { input: 10_000, output: 1_000 }) });
    const result = await openai().responses("gpt-5").doGenerate(callOptions);
    const usage = usageFromV4(result.usage, "gpt-5", { providerMetadata: result.providerMetadata });
    expect(usage?.tokenRatePercent).toBe(200);
  });

  it("a Responses stream names it on its finish part", async () => {
    const done = openAIResponse("flex", { input: 10_000, output: 1_000 });
    server.answer({
      sse: [
        {
          event: "response.created",
          data: {
            type: "response.created",
            sequence_number: 0,
            response: { ...done, status: "in_progress", output: [], usage: null, service_tier: "auto" },
          },
        },
        {
          event: "response.completed",
          data: { type: "response.completed", sequence_number: 1, response: done },
        },
      ],
    });
    const { stream } = await openai().responses("gpt-5").doStream(callOptions);
    let usage: ReturnType<typeof usageFromV4>;
    for await (const part of stream) {
      if (part.type === "finish")
        usage = usageFromV4(part.usage, "gpt-5", { providerMetadata: part.providerMetadata });
    }
    expect(usage?.tokenRatePercent).toBe(50);
  });

  it("a chat result, which does not name its tier, is priced at the tier the request asked for", async () => {
    server.answer({
      json: {
        id: "chatcmpl_1",
        object: "chat.completion",
        created: 1,
        model: "gpt-5",
        service_tier: "priority",
        choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 10_000, completion_tokens: 1_000, total_tokens: 11_000 },
      },
    });
    const result = await openai().chat("gpt-5").doGenerate(callOptions);
    const usage = usageFromV4(result.usage, "gpt-5", {
      providerMetadata: result.providerMetadata,
      requestedRatePercent: 200,
    });
    expect(usage?.tokenRatePercent).toBe(200);
  });
});
