import { createOpenAI } from "@ai-sdk/openai";
import { type LanguageModel, streamText } from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { callRatePercent } from "../../src/middleware/ai-sdk/call-usage.ts";
import { governModel } from "../../src/middleware/ai-sdk/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// A stream the provider breaks off (or the consumer aborts) before reporting usage is settled at
// what was consumed: the prompt estimate and the output received, priced at the rate the request
// was sent at (an OpenAI service tier, Anthropic fast mode or US-only inference), as trust()
// settles a cut stream. A usage the provider did report (Anthropic's message_start) carries its
// own rate.

let openaiServer: OpenAIStandIn | undefined;
beforeAll(async () => {
  openaiServer = await startOpenAIStandIn();
});
afterAll(() => openaiServer?.close());
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const PROMPT = `Summarize: ${"lorem ipsum dolor sit amet ".repeat(1_500)}`;
const WORDS = Array.from({ length: 40 }, (_, index) => `word${index} `);

/** Streams `model` to its cut; the spend event's cost and usage source. */
async function cutStreamSpend(
  model: (engine: Awaited<ReturnType<typeof createEngine>>) => LanguageModel,
  providerOptions?: Record<string, Record<string, string>>,
): Promise<{ cost: number; source: unknown }> {
  const vault = makeTempVault({ budget: 10_000_000 });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  const result = streamText({
    model: model(engine),
    prompt: PROMPT,
    maxOutputTokens: 2_000,
    maxRetries: 0,
    ...(providerOptions === undefined ? {} : { providerOptions }),
    onError: () => {},
  });
  await result.consumeStream({ onError: () => {} });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return { cost: spend?.data.costUsertokens as number, source: spend?.data.usageSource };
}

describe("AI SDK: a cut OpenAI stream is charged at the tier it was sent at", () => {
  /** A streamText on gpt-5 whose connection dies after 20 words: the cost its spend event records. */
  async function cutStreamCost(providerOptions?: Record<string, Record<string, string>>): Promise<number> {
    openaiServer?.setBehaviour({ replyChunks: WORDS, failAfterChunks: 20 });
    const openai = createOpenAI({ baseURL: `${openaiServer?.url}/v1`, apiKey: "test" });
    const spend = await cutStreamSpend(
      (engine) => governModel(openai.chat("gpt-5"), engine),
      providerOptions,
    );
    expect(spend.source).toBe("estimated");
    const sent = openaiServer?.requests.at(-1)?.body as { service_tier?: unknown };
    expect(sent.service_tier).toBe(providerOptions?.openai?.serviceTier);
    return spend.cost;
  }

  it("gpt-5 at priority costs twice the standard cut stream", async () => {
    const standard = await cutStreamCost();
    const priority = await cutStreamCost({ openai: { serviceTier: "priority" } });
    expect(standard).toBeGreaterThan(50);
    expect(priority).toBeGreaterThanOrEqual(2 * standard - 1);
  });

  it("gpt-5 at flex costs half the standard cut stream", async () => {
    const standard = await cutStreamCost();
    const flex = await cutStreamCost({ openai: { serviceTier: "flex" } });
    expect(Math.abs(2 * flex - standard)).toBeLessThanOrEqual(2);
  });
});

describe("the rate a call's consumed usage is priced at when the result names no tier", () => {
  it("OpenAI: the served rate of the tier the request body sent", () => {
    expect(callRatePercent("openai", "gpt-5", { requestBody: { service_tier: "priority" } })).toBe(200);
    expect(
      callRatePercent("openai", "gpt-5", {
        requestBody: { service_tier: "flex" },
        requestedRatePercent: undefined,
      }),
    ).toBe(50);
    // @ai-sdk/openai dropped the tier it was asked for: nothing premium was sent.
    expect(callRatePercent("openai", "gpt-5-nano", { requestBody: {}, requestedRatePercent: 250 })).toBe(100);
  });

  it("OpenAI without a request body: the rate the hold was sized at", () => {
    expect(callRatePercent("openai", "gpt-5", { requestedRatePercent: 200 })).toBe(200);
  });

  it("Anthropic (fast mode, US-only inference) and others: the rate the hold was sized at, as the options are sent", () => {
    expect(
      callRatePercent("anthropic", "claude-opus-4-6", {
        requestBody: { speed: "fast" },
        requestedRatePercent: 600,
      }),
    ).toBe(600);
    expect(callRatePercent("google", "gemini-2.5-pro", { requestBody: {} })).toBeUndefined();
  });
});
