import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import type {
  LanguageModelV4GenerateResult,
  LanguageModelV4StreamPart,
  LanguageModelV4Usage,
} from "@ai-sdk/provider";
import {
  generateText,
  type LanguageModel,
  simulateReadableStream,
  stepCountIs,
  streamText,
  type TextStreamPart,
  type ToolSet,
  tool,
} from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AuditEvent } from "../../src/core/audit/audit-event.ts";
import type { TrustConfig } from "../../src/core/config.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import { BudgetExceededError, PolicyDeniedError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { governModel, OutputCapError, runTotal } from "../../src/middleware/ai-sdk/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * usertrust/ai-sdk with streamText (real providers against the stand-ins) and, for shapes the
 * stand-ins cannot produce, MockLanguageModelV4: receipts on finish-step / onFinish, settling on
 * finish, abort, early stop, provider errors and the output cap, and refusals as error parts.
 */

let openaiServer: OpenAIStandIn;
let anthropicServer: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  [openaiServer, anthropicServer] = await Promise.all([startOpenAIStandIn(), startAnthropicStandIn()]);
});
afterAll(async () => {
  await Promise.all([openaiServer.close(), anthropicServer.close()]);
});
afterEach(async () => {
  openaiServer.setBehaviour({});
  anthropicServer.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Vault = ReturnType<typeof makeTempVault>;

async function governedVault(
  budget = 100_000,
  config: Partial<TrustConfig> = {},
  policy?: string,
): Promise<{ vault: Vault; engine: Engine }> {
  const vault = makeTempVault({
    budget,
    ...config,
    ...(policy === undefined ? {} : { policies: ["policies/default.yml", "policies/extra.yml"] }),
  });
  if (policy !== undefined) writeFileSync(join(vault.paths.policiesDir, "extra.yml"), policy);
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  return { vault, engine };
}

function auditEvents(vault: Vault): AuditEvent[] {
  return existsSync(vault.paths.auditLog) ? readAuditLog(vault.paths.auditLog) : [];
}

function kinds(vault: Vault): string[] {
  return auditEvents(vault).map((event) => event.kind);
}

/** The ledger through a second connection to the vault's SQLite file; the engine stays open, so nothing is voided by a close. */
async function ledgerOf(vault: Vault) {
  const ledger = new SqliteLedger({ path: vault.paths.ledger });
  try {
    const balance = await ledger.balance();
    return { posted: balance.postedUsertokens, pending: balance.pendingUsertokens };
  } finally {
    await ledger.close();
  }
}

/** Waits (up to a second) until no hold is pending: a stream may settle just after the consumer stops reading. */
async function settledLedger(vault: Vault) {
  await expect.poll(async () => (await ledgerOf(vault)).pending, { timeout: 1_000, interval: 10 }).toBe(0);
  return ledgerOf(vault);
}

function openai() {
  return createOpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test" });
}

function anthropic() {
  return createAnthropic({ baseURL: `${anthropicServer.url}/v1`, apiKey: "test" });
}

function receiptIn(metadata: unknown): TrustReceipt | undefined {
  return (metadata as Record<string, unknown> | undefined)?.usertrust as TrustReceipt | undefined;
}

/** Reads a streamText result's full stream; returns its parts, or what it threw. */
async function readParts<TOOLS extends ToolSet>(
  stream: AsyncIterable<TextStreamPart<TOOLS>>,
  onPart?: (part: TextStreamPart<TOOLS>) => "break" | undefined,
): Promise<{ parts: TextStreamPart<TOOLS>[]; thrown: unknown }> {
  const parts: TextStreamPart<TOOLS>[] = [];
  try {
    for await (const part of stream) {
      parts.push(part);
      if (onPart?.(part) === "break") break;
    }
  } catch (error) {
    return { parts, thrown: error };
  }
  return { parts, thrown: undefined };
}

function textOf(parts: ReadonlyArray<{ type: string }>): string {
  return parts
    .filter((part): part is { type: "text-delta"; text: string } => part.type === "text-delta")
    .map((part) => part.text)
    .join("");
}

// gpt-4o-mini: 10,000 in × $0.15/M + 1,000 out × $0.60/M = $0.0015 + $0.0006 = $0.0021 = 21 UT.
const SMALL_USAGE = { promptTokens: 10_000, completionTokens: 1_000 };
const SMALL_USAGE_UT = 21;
// claude-sonnet-4-6: 1,000 in × $3 + 500 out × $15 + 2,000 read × $0.30 + 600 × $3.75 (5-minute
// writes) + 400 × $6 (1-hour writes), per million = 15,750 µ$ = 157.5 UT, rounded up to 158.
const ANTHROPIC_CACHED = {
  inputTokens: 1_000,
  outputTokens: 500,
  cacheReadInputTokens: 2_000,
  cacheCreation: { ephemeral5m: 600, ephemeral1h: 400 },
};
const ANTHROPIC_CACHED_UT = 158;

describe("usertrust/ai-sdk: streamText receipts", () => {
  it.each([
    ["OpenAI chat", () => openai().chat("gpt-4o-mini"), SMALL_USAGE_UT],
    ["OpenAI Responses", () => openai().responses("gpt-4o-mini"), SMALL_USAGE_UT],
    ["Anthropic", () => anthropic()("claude-sonnet-4-6"), ANTHROPIC_CACHED_UT],
  ] as const)(
    "%s: the receipt is on finish-step, onFinish and providerMetadata; settled on finish",
    async (_name, make, cost) => {
      const { vault, engine } = await governedVault();
      openaiServer.setBehaviour(SMALL_USAGE);
      anthropicServer.setBehaviour(ANTHROPIC_CACHED);
      let finished: unknown;
      const result = streamText({
        model: governModel(make(), engine),
        prompt: "Say hello",
        maxOutputTokens: 10_000,
        onFinish: (event) => {
          finished = event.providerMetadata;
        },
      });
      const { parts, thrown } = await readParts(result.stream);
      expect(thrown).toBeUndefined();
      expect(textOf(parts)).toBe("Hello from the stand-in.");
      const finishStep = parts.find((part) => part.type === "finish-step");
      const receipt = receiptIn(finishStep?.providerMetadata);
      expect(receipt).toMatchObject({ cost, settled: true, usageSource: "provider" });
      expect(receiptIn(finished)).toEqual(receipt);
      expect(receiptIn(await result.providerMetadata)).toEqual(receipt);
      expect(receiptIn((await result.finalStep).providerMetadata)).toEqual(receipt);
      expect(runTotal(await result.steps)).toMatchObject({ cost, calls: 1 });
      expect(await ledgerOf(vault)).toEqual({ posted: cost, pending: 0 });
      const events = auditEvents(vault);
      expect(events.map((event) => event.kind)).toEqual(["spend"]);
      expect(events[0]?.hash).toBe(receipt?.auditHash);
    },
  );

  it("puts one receipt on each step of a streamed tool loop", async () => {
    const { vault, engine } = await governedVault();
    openaiServer.setBehaviour({
      ...SMALL_USAGE,
      toolCall: { name: "weather", arguments: '{"city":"Oslo"}' },
    });
    const result = streamText({
      model: governModel(openai().chat("gpt-4o-mini"), engine),
      prompt: "Weather in Oslo?",
      maxOutputTokens: 10_000,
      stopWhen: stepCountIs(3),
      tools: {
        weather: tool({
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => `rain in ${city}`,
        }),
      },
    });
    const { parts } = await readParts(result.stream);
    const stepReceipts = parts
      .filter((part) => part.type === "finish-step")
      .map((part) => receiptIn(part.providerMetadata));
    expect(stepReceipts.map((receipt) => receipt?.cost)).toEqual([SMALL_USAGE_UT, SMALL_USAGE_UT]);
    const total = runTotal(await result.steps);
    expect(total).toMatchObject({ cost: 2 * SMALL_USAGE_UT, calls: 2 });
    expect(await ledgerOf(vault)).toEqual({ posted: total.cost, pending: 0 });
    expect(kinds(vault)).toEqual(["spend", "spend"]);
  });
});

describe("usertrust/ai-sdk: streams that do not finish normally", () => {
  const longReply = Array.from({ length: 60 }, (_, index) => `word${index}`).join(" ");

  it("settles what was consumed when the consumer aborts mid-stream (no hold left pending)", async () => {
    const { vault, engine } = await governedVault();
    openaiServer.setBehaviour({ reply: longReply, chunkDelayMs: 15 });
    const controller = new AbortController();
    let aborted = false;
    const result = streamText({
      model: governModel(openai().chat("gpt-4o-mini"), engine),
      prompt: "Say a lot",
      maxOutputTokens: 10_000,
      abortSignal: controller.signal,
      onAbort: () => {
        aborted = true;
      },
    });
    const { parts } = await readParts(result.stream, (part) => {
      if (part.type === "text-delta") controller.abort();
      return undefined;
    });
    expect(parts.at(-1)?.type).toBe("abort");
    expect(aborted).toBe(true);
    const ledger = await settledLedger(vault);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    const spend = events[0]?.data as {
      costUsertokens: number;
      usageSource: string;
      usage: { outputTokens: number };
    };
    // No usage arrived: the receipt is an estimate of what came through, far less than the whole reply.
    expect(spend.usageSource).toBe("estimated");
    expect(spend.usage.outputTokens).toBeGreaterThan(0);
    expect(spend.usage.outputTokens).toBeLessThan(Math.ceil(Buffer.byteLength(longReply) / 3));
    expect(ledger).toEqual({ posted: spend.costUsertokens, pending: 0 });
  });

  it("settles when the consumer breaks out of the stream early", async () => {
    // README: streams settle "on a consumer abort (`abortSignal`) or an early stop". A reply long
    // enough not to fit the AI SDK's internal buffers (60 words, 2 ms apart).
    const { vault, engine } = await governedVault();
    openaiServer.setBehaviour({ reply: longReply, chunkDelayMs: 2, ...SMALL_USAGE });
    const result = streamText({
      model: governModel(openai().chat("gpt-4o-mini"), engine),
      prompt: "Say a lot",
      maxOutputTokens: 10_000,
    });
    const { parts } = await readParts(result.stream, (part) =>
      part.type === "text-delta" ? "break" : undefined,
    );
    expect(parts.at(-1)?.type).toBe("text-delta");
    const ledger = await settledLedger(vault);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    expect(ledger).toEqual({ posted: events[0]?.data.costUsertokens, pending: 0 });
  });

  it("settles what was consumed when the provider's connection dies mid-stream; the error reaches the user as without usertrust", async () => {
    const { vault, engine } = await governedVault();
    const raw = openai().chat("gpt-4o-mini");
    const failing = { reply: "alpha beta gamma delta epsilon zeta", failAfterChunks: 3 };

    // Control: the same failure without usertrust.
    openaiServer.setBehaviour(failing);
    const plain = await readParts(streamText({ model: raw, prompt: "Say a lot", maxRetries: 0 }).stream);

    openaiServer.setBehaviour(failing);
    const errors: unknown[] = [];
    const governed = await readParts(
      streamText({
        model: governModel(raw, engine),
        prompt: "Say a lot",
        maxOutputTokens: 10_000,
        maxRetries: 0,
        onError: ({ error }) => {
          errors.push(error);
        },
      }).stream,
    );
    expect(governed.parts.map((part) => part.type)).toEqual(plain.parts.map((part) => part.type));
    expect(textOf(governed.parts)).toBe("alpha beta gamma ");
    expect((governed.thrown as Error | undefined)?.name).toBe((plain.thrown as Error | undefined)?.name);
    expect(governed.thrown ?? errors[0]).toBeDefined();

    const ledger = await settledLedger(vault);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    // 17 bytes received → ceil(17 / 3) = 6 output tokens, at an estimate (no usage arrived).
    expect(events[0]?.data).toMatchObject({ usageSource: "estimated", usage: { outputTokens: 6 } });
    expect(ledger).toEqual({ posted: events[0]?.data.costUsertokens, pending: 0 });
  });

  it("passes an Anthropic mid-stream error event on as an error part and onError, and settles", async () => {
    const { vault, engine } = await governedVault();
    anthropicServer.setBehaviour({ reply: "a b c d e f", errorEventAfter: 2 });
    const errors: unknown[] = [];
    const { parts, thrown } = await readParts(
      streamText({
        model: governModel(anthropic()("claude-sonnet-4-6"), engine),
        prompt: "Say a lot",
        maxOutputTokens: 1_000,
        maxRetries: 0,
        onError: ({ error }) => {
          errors.push(error);
        },
      }).stream,
    );
    expect(thrown).toBeUndefined();
    const errorPart = parts.find((part) => part.type === "error");
    expect(errorPart).toBeDefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBe(errorPart?.error);
    const ledger = await settledLedger(vault);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    expect(ledger).toEqual({ posted: events[0]?.data.costUsertokens, pending: 0 });
  });
});

describe("usertrust/ai-sdk: the output cap", () => {
  it("ends a stream whose output passes its hold with an OutputCapError part, settled at the hold at most", async () => {
    const { vault, engine } = await governedVault();
    // The stand-in ignores max_tokens, as a misbehaving provider would, and sends ~3,000 bytes.
    const reply = "word ".repeat(600);
    openaiServer.setBehaviour({ reply });
    const errors: unknown[] = [];
    const result = streamText({
      model: governModel(openai().chat("gpt-4o"), engine),
      prompt: "Say a lot",
      maxOutputTokens: 5,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    const { parts, thrown } = await readParts(result.stream);
    expect(thrown).toBeUndefined();
    const errorIndex = parts.findIndex((part) => part.type === "error");
    expect(errorIndex).toBeGreaterThan(0);
    const capError = (parts[errorIndex] as { error: unknown }).error;
    expect(capError).toBeInstanceOf(OutputCapError);
    expect(capError).toMatchObject({ code: "OUTPUT_CAP" });
    expect(errors).toEqual([capError]);
    // Nothing of the text after the cap reaches the user.
    expect(parts.slice(errorIndex).some((part) => part.type === "text-delta")).toBe(false);
    const seen = textOf(parts);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(200);

    const ledger = await settledLedger(vault);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    const spend = events[0]?.data as {
      holdUsertokens: number;
      postedUsertokens: number;
      usageSource: string;
      usage: { outputTokens: number };
    };
    expect(spend.usageSource).toBe("estimated");
    expect(spend.usage.outputTokens).toBeGreaterThanOrEqual(Math.ceil(Buffer.byteLength(seen) / 3));
    expect(spend.postedUsertokens).toBeLessThanOrEqual(spend.holdUsertokens);
    expect(ledger).toEqual({ posted: spend.postedUsertokens, pending: 0 });
    expect(ledger.posted).toBeLessThanOrEqual(spend.holdUsertokens);
  });

  it("never cuts a stream that keeps to maxOutputTokens, even at 5 bytes a token", async () => {
    const { engine } = await governedVault();
    // 1,000 tokens of " word" (one token each): exactly the cap, reported so by the provider.
    const reply = "word ".repeat(1_000);
    openaiServer.setBehaviour({ reply, promptTokens: 10, completionTokens: 1_000 });
    const errors: unknown[] = [];
    const result = streamText({
      model: governModel(openai().chat("gpt-4o"), engine),
      prompt: "Say a lot",
      maxOutputTokens: 1_000,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    const { parts } = await readParts(result.stream);
    expect(errors).toEqual([]);
    expect(textOf(parts)).toBe(reply);
    const receipt = (await result.providerMetadata)?.usertrust;
    expect(receipt).toMatchObject({ usageSource: "provider", usage: { outputTokens: 1_000 } });
  });
});

describe("usertrust/ai-sdk: refusals in streamText", () => {
  it("streams our BudgetExceededError as an error part and to onError; nothing reaches the provider", async () => {
    const { vault, engine } = await governedVault(5);
    const before = openaiServer.requests.length;
    const errors: unknown[] = [];
    const { parts, thrown } = await readParts(
      streamText({
        model: governModel(openai().chat("gpt-4o"), engine),
        prompt: "Say hello",
        maxOutputTokens: 100_000,
        onError: ({ error }) => {
          errors.push(error);
        },
      }).stream,
    );
    expect(thrown).toBeUndefined();
    const errorPart = parts.find((part) => part.type === "error");
    expect(errorPart?.error).toBeInstanceOf(BudgetExceededError);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBe(errorPart?.error);
    expect(parts.some((part) => part.type === "text-delta")).toBe(false);
    expect(openaiServer.requests.length).toBe(before);
    expect(await ledgerOf(vault)).toEqual({ posted: 0, pending: 0 });
    expect(kinds(vault)).toEqual(["budget_exceeded"]);
  });

  it("streams PolicyDeniedError the same way, with the per-call scope from providerOptions", async () => {
    const { vault, engine } = await governedVault(
      100_000,
      {},
      "- name: prod-frozen\n  effect: deny\n  enforcement: hard\n  severity: high\n" +
        '  scopePatterns: ["prod/**"]\n  conditions: []\n',
    );
    const model = governModel(openai().chat("gpt-4o-mini"), engine);
    const before = openaiServer.requests.length;
    const errors: unknown[] = [];
    const denied = await readParts(
      streamText({
        model,
        prompt: "Say hello",
        maxOutputTokens: 100,
        providerOptions: { usertrust: { scope: "prod/eu" } },
        onError: ({ error }) => {
          errors.push(error);
        },
      }).stream,
    );
    const errorPart = denied.parts.find((part) => part.type === "error");
    expect(errorPart?.error).toBeInstanceOf(PolicyDeniedError);
    expect(errors[0]).toBe(errorPart?.error);
    expect(openaiServer.requests.length).toBe(before);

    const allowed = streamText({
      model,
      prompt: "Say hello",
      maxOutputTokens: 100,
      providerOptions: { usertrust: { scope: "staging" } },
    });
    const { parts } = await readParts(allowed.stream);
    const receipt = receiptIn(parts.find((part) => part.type === "finish-step")?.providerMetadata);
    expect(receipt?.settled).toBe(true);
    expect(JSON.stringify(openaiServer.requests.at(-1)?.body)).not.toContain("usertrust");
    expect(kinds(vault)).toEqual(["policy_denied", "spend"]);
    expect(await ledgerOf(vault)).toEqual({ posted: receipt?.cost, pending: 0 });
  });
});

describe("usertrust/ai-sdk: PII redaction (pii: { mode: redact, restore: true })", () => {
  const usage: LanguageModelV4Usage = {
    inputTokens: { total: 10_000, noCache: 10_000, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: 1_000, text: 1_000, reasoning: 0 },
  };
  /** A model that answers with the placeholder it was sent, the way a model repeats a redacted address. */
  function echoing() {
    const replyTo = (prompt: unknown) =>
      `I will write to ${JSON.stringify(prompt).match(/\[EMAIL_\d+\]/)?.[0] ?? "nobody"} now.`;
    return new MockLanguageModelV4({
      provider: "openai.chat",
      modelId: "gpt-4o-mini",
      doGenerate: async (options) => ({
        content: [{ type: "text", text: replyTo(options.prompt) }],
        finishReason: { unified: "stop", raw: "stop" },
        usage,
        warnings: [],
      }),
      doStream: async (options) => {
        const reply = replyTo(options.prompt);
        // The placeholder is split across two deltas: "[EMA" | "IL_1] now."
        const cut = reply.indexOf("[") + 4;
        const parts: LanguageModelV4StreamPart[] = [
          { type: "stream-start", warnings: [] },
          { type: "text-start", id: "t" },
          { type: "text-delta", id: "t", delta: reply.slice(0, cut) },
          { type: "text-delta", id: "t", delta: reply.slice(cut) },
          { type: "text-end", id: "t" },
          { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage },
        ];
        return { stream: simulateReadableStream({ chunks: parts, chunkDelayInMs: 0 }) };
      },
    });
  }

  it("sends placeholders to the provider and gives the values back in text and text-delta parts", async () => {
    const { vault, engine } = await governedVault(100_000, { pii: { mode: "redact", restore: true } });
    const model = echoing();
    const prompt = "Write to ada@example.com please";

    const generated = await generateText({
      model: governModel(model, engine),
      prompt,
      maxOutputTokens: 10_000,
    });
    expect(JSON.stringify(model.doGenerateCalls[0]?.prompt)).not.toContain("ada@example.com");
    expect(JSON.stringify(model.doGenerateCalls[0]?.prompt)).toContain("[EMAIL_1]");
    expect(generated.text).toBe("I will write to ada@example.com now.");

    const streamed = streamText({ model: governModel(model, engine), prompt, maxOutputTokens: 10_000 });
    const { parts } = await readParts(streamed.stream);
    expect(JSON.stringify(model.doStreamCalls[0]?.prompt)).not.toContain("ada@example.com");
    expect(textOf(parts)).toBe("I will write to ada@example.com now.");
    // No delta shows half a placeholder.
    expect(textOf(parts)).not.toContain("[EMA");
    const receipts = [
      receiptIn(generated.finalStep.providerMetadata),
      receiptIn(parts.find((part) => part.type === "finish-step")?.providerMetadata),
    ];
    // 10,000 in × $0.15/M + 1,000 out × $0.60/M = 21 UT each.
    expect(receipts.map((receipt) => receipt?.cost)).toEqual([21, 21]);
    expect(receipts[0]?.warnings.join()).toContain("placeholders");
    expect(kinds(vault)).toEqual(["spend", "spend"]);
    expect(await ledgerOf(vault)).toEqual({ posted: 42, pending: 0 });
  });
});

describe("usertrust/ai-sdk: edge cases with MockLanguageModelV4", () => {
  const noUsage: LanguageModelV4Usage = {
    inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: undefined, text: undefined, reasoning: undefined },
  };

  function generating(usage: LanguageModelV4Usage, text = "Hello there, world!") {
    const result: LanguageModelV4GenerateResult = {
      content: [{ type: "text", text }],
      finishReason: { unified: "stop", raw: "stop" },
      usage,
      warnings: [],
    };
    return new MockLanguageModelV4({ provider: "openai.chat", modelId: "gpt-4o-mini", doGenerate: result });
  }

  function streaming(parts: LanguageModelV4StreamPart[]) {
    return new MockLanguageModelV4({
      provider: "openai.chat",
      modelId: "gpt-4o-mini",
      doStream: async () => ({ stream: simulateReadableStream({ chunks: parts, chunkDelayInMs: 0 }) }),
    });
  }

  const textParts = (text: string): LanguageModelV4StreamPart[] => [
    { type: "stream-start", warnings: [] },
    { type: "text-start", id: "t" },
    { type: "text-delta", id: "t", delta: text },
    { type: "text-end", id: "t" },
  ];

  async function generate(model: LanguageModel) {
    const result = await generateText({ model, prompt: "hi", maxOutputTokens: 1_000_000 });
    const receipt = receiptIn(result.finalStep.providerMetadata);
    expect(receipt).toBeDefined();
    return receipt as TrustReceipt;
  }

  it("totals missing from the parts: input = total − cache read − cache write, output = text + reasoning", async () => {
    const { vault, engine } = await governedVault();
    // gpt-4o-mini: 400,000 × $0.15 + 600,000 × $0.075 + (60,000 + 40,000) × $0.60, per million
    // = $0.06 + $0.045 + $0.06 = $0.165 = 1,650 UT.
    const receipt = await generate(
      governModel(
        generating({
          inputTokens: { total: 1_000_000, noCache: undefined, cacheRead: 600_000, cacheWrite: undefined },
          outputTokens: { total: undefined, text: 60_000, reasoning: 40_000 },
        }),
        engine,
      ),
    );
    expect(receipt).toMatchObject({ cost: 1_650, usageSource: "provider" });
    expect(receipt.usage).toEqual({
      inputTokens: 400_000,
      outputTokens: 100_000,
      cacheReadTokens: 600_000,
      cacheWriteTokens: 0,
    });
    expect(await ledgerOf(vault)).toEqual({ posted: 1_650, pending: 0 });
  });

  it("a report with the parts but neither total is still the provider's usage, priced from the parts", async () => {
    const { vault, engine } = await governedVault();
    // Same usage as above, reported only as parts: 1,650 UT.
    const receipt = await generate(
      governModel(
        generating({
          inputTokens: { total: undefined, noCache: 400_000, cacheRead: 600_000, cacheWrite: 0 },
          outputTokens: { total: undefined, text: 60_000, reasoning: 40_000 },
        }),
        engine,
      ),
    );
    expect(receipt).toMatchObject({ cost: 1_650, usageSource: "provider" });
    expect(await ledgerOf(vault)).toEqual({ posted: 1_650, pending: 0 });
  });

  it("no usage at all: settled at an estimate of the prompt and the text received", async () => {
    const { vault, engine } = await governedVault();
    const receipt = await generate(governModel(generating(noUsage, "Hello there, world!"), engine));
    // The prompt "hi": ceil(2 bytes / 3) + 4 tokens per part = 5; the reply: ceil(19 bytes / 3) = 7.
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    expect(receipt.usage).toEqual({
      inputTokens: 5,
      outputTokens: 7,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerOf(vault)).toEqual({ posted: receipt.cost, pending: 0 });
  });

  it("a provider that throws: the same error instance, the hold released as call_failed", async () => {
    const { vault, engine } = await governedVault();
    const failure = new Error("upstream exploded");
    const model = new MockLanguageModelV4({
      provider: "openai.chat",
      modelId: "gpt-4o-mini",
      doGenerate: async () => {
        throw failure;
      },
      doStream: async () => {
        throw failure;
      },
    });
    await expect(
      generateText({ model: governModel(model, engine), prompt: "hi", maxOutputTokens: 100 }),
    ).rejects.toBe(failure);
    const errors: unknown[] = [];
    const { parts } = await readParts(
      streamText({
        model: governModel(model, engine),
        prompt: "hi",
        maxOutputTokens: 100,
        onError: ({ error }) => {
          errors.push(error);
        },
      }).stream,
    );
    expect(parts.find((part) => part.type === "error")?.error).toBe(failure);
    expect(errors).toEqual([failure]);
    expect(kinds(vault)).toEqual(["call_failed", "call_failed"]);
    expect(await ledgerOf(vault)).toEqual({ posted: 0, pending: 0 });
  });

  it("a stream with an error part and no finish: the user sees the error part, the hold settles at what was consumed", async () => {
    const { vault, engine } = await governedVault();
    const failure = new Error("provider hiccup");
    const errors: unknown[] = [];
    const { parts, thrown } = await readParts(
      streamText({
        model: governModel(
          streaming([...textParts("Twelve bytes"), { type: "error", error: failure }]),
          engine,
        ),
        prompt: "hi",
        maxOutputTokens: 1_000,
        onError: ({ error }) => {
          errors.push(error);
        },
      }).stream,
    );
    expect(thrown).toBeUndefined();
    expect(parts.find((part) => part.type === "error")?.error).toBe(failure);
    expect(errors).toEqual([failure]);
    const ledger = await settledLedger(vault);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    // "Twelve bytes" = 12 bytes → 4 output tokens; the prompt "hi" → 5 input tokens (estimates).
    expect(events[0]?.data).toMatchObject({
      usageSource: "estimated",
      usage: { inputTokens: 5, outputTokens: 4 },
    });
    expect(ledger).toEqual({ posted: events[0]?.data.costUsertokens, pending: 0 });
  });

  it("a stream that ends without a finish part settles at an estimate", async () => {
    const { vault, engine } = await governedVault();
    const { thrown } = await readParts(
      streamText({
        model: governModel(streaming(textParts("Twelve bytes")), engine),
        prompt: "hi",
        maxOutputTokens: 1_000,
        onError: () => {},
      }).stream,
    );
    expect(thrown).toBeUndefined();
    const ledger = await settledLedger(vault);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    expect(events[0]?.data).toMatchObject({ usageSource: "estimated", usage: { outputTokens: 4 } });
    expect(ledger.posted).toBe(events[0]?.data.costUsertokens);
  });

  it("an error part followed by a finish with usage settles at the reported usage, once", async () => {
    const { vault, engine } = await governedVault();
    const errors: unknown[] = [];
    // 10,000 in × $0.15/M + 1,000 out × $0.60/M = 21 UT.
    const result = streamText({
      model: governModel(
        streaming([
          ...textParts("partial"),
          { type: "error", error: new Error("recoverable") },
          {
            type: "finish",
            finishReason: { unified: "error", raw: "error" },
            usage: {
              inputTokens: { total: 10_000, noCache: 10_000, cacheRead: 0, cacheWrite: 0 },
              outputTokens: { total: 1_000, text: 1_000, reasoning: 0 },
            },
          },
        ]),
        engine,
      ),
      prompt: "hi",
      maxOutputTokens: 10_000,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    const { parts } = await readParts(result.stream);
    expect(errors).toHaveLength(1);
    const receipt = receiptIn(parts.find((part) => part.type === "finish-step")?.providerMetadata);
    expect(receipt).toMatchObject({ cost: 21, usageSource: "provider", settled: true });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerOf(vault)).toEqual({ posted: 21, pending: 0 });
  });
});
