import Anthropic from "@anthropic-ai/sdk";
import { Stream } from "@anthropic-ai/sdk/core/streaming";
import { betaTool } from "@anthropic-ai/sdk/helpers/beta/json-schema";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ResponseShape, trust } from "../../src/adapters/trust.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { BudgetExceededError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { receiptOf, receiptsOf } from "../../src/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * The Anthropic SDK's surfaces beyond messages.create: the stream helper, parse, the beta resource
 * and its tool runner, countTokens, the native shape, cache and thinking pricing on more models,
 * hold sizing, retries, aborts and concurrency. Real @anthropic-ai/sdk against the stand-in.
 */

let server: AnthropicStandIn;
const cleanups: Array<() => void | Promise<void>> = [];

beforeAll(async () => {
  server = await startAnthropicStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  // Clients first (destroy is idempotent), so a test that failed midway leaves no call in flight.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Vault = ReturnType<typeof makeTempVault>;

async function governed<Shape extends ResponseShape = "spec">(
  options: {
    budget?: number;
    maxRetries?: number;
    shape?: Shape;
    onReceipt?: (receipt: TrustReceipt) => void;
  } = {},
) {
  const vault = makeTempVault({ budget: options.budget ?? 100_000 });
  cleanups.push(vault.cleanup);
  const anthropic = new Anthropic({
    baseURL: server.url,
    apiKey: "test",
    maxRetries: options.maxRetries ?? 0,
  });
  const client = await trust<Anthropic, Shape>(anthropic, {
    vaultBase: vault.base,
    ...(options.shape === undefined ? {} : { shape: options.shape }),
    ...(options.onReceipt === undefined ? {} : { onReceipt: options.onReceipt }),
  });
  cleanups.push(() => client.destroy());
  return { client, vault };
}

function auditKinds(vault: Vault): string[] {
  return readAuditLog(vault.paths.auditLog).map((event) => event.kind);
}

/** The ledger as another reader sees it (opened without a budget, so nothing is written). */
async function ledgerOf(vault: Vault): Promise<{ posted: number; pending: number; remaining: number }> {
  const ledger = new SqliteLedger({ path: vault.paths.ledger });
  try {
    const balance = await ledger.balance();
    return {
      posted: balance.postedUsertokens,
      pending: balance.pendingUsertokens,
      remaining: balance.remainingUsertokens,
    };
  } finally {
    await ledger.close();
  }
}

/** The receipts, the spend events and the ledger agree: each receipt is one spend event, and the ledger spent their sum. */
async function expectSpends(vault: Vault, receipts: TrustReceipt[]): Promise<void> {
  const events = readAuditLog(vault.paths.auditLog);
  expect(events.map((event) => event.kind)).toEqual(receipts.map(() => "spend"));
  for (const [index, receipt] of receipts.entries()) {
    expect(events[index]?.data).toMatchObject({
      transferId: receipt.transferId,
      costUsertokens: receipt.cost,
    });
    expect(events[index]?.hash).toBe(receipt.auditHash);
  }
  const total = receipts.reduce((sum, receipt) => sum + receipt.cost, 0);
  expect(await ledgerOf(vault)).toMatchObject({ posted: total, pending: 0 });
  expect(verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead }).ok).toBe(true);
}

/** `promise`, or a rejection naming `what` if it has not settled within `ms` (so a hang fails fast). */
function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Nothing spent or held, and one call_failed event for the released hold. */
async function expectReleased(vault: Vault, budget = 100_000): Promise<void> {
  expect(auditKinds(vault)).toEqual(["call_failed"]);
  expect(await ledgerOf(vault)).toEqual({ posted: 0, pending: 0, remaining: budget });
}

const SONNET = "claude-sonnet-4-6";
const hello = [{ role: "user" as const, content: "Say hello" }];

// claude-sonnet-4-6 per million tokens: input $3, output $15.
// 1,000 in + 400 out = 3,000 + 6,000 µ$ = 9,000 µ$ = 90 UT.
const SONNET_USAGE = { inputTokens: 1_000, outputTokens: 400 };
const SONNET_COST_UT = 90;

// Eight words of 30 UTF-8 bytes each (29 letters and a space; the last has no space): a stream cut
// after two words received 60 bytes, which usertrust counts as at least 60 / 3 = 20 output tokens.
const LONG_WORDS = Array.from({ length: 8 }, (_, i) => String.fromCharCode(97 + i).repeat(29)).join(" ");
// message_start reported the input side (1,000) and a provisional output of 1; two words received
// count as 20 output tokens: 1,000 × $3/M + 20 × $15/M = 3,000 + 300 µ$ = 3,300 µ$ = 33 UT.
const TWO_WORDS_COST_UT = 33;
// The reported total output the cut stream never delivered: at $15/M it alone would cost 15,000 UT.
const UNDELIVERED = { inputTokens: 1_000, outputTokens: 100_000 };

describe("messages.stream() helper in spec mode", () => {
  it("keeps its text events and finalMessage() and settles once at the reported usage", async () => {
    const { client, vault } = await governed();
    server.setBehaviour(SONNET_USAGE);
    const stream = client.messages.stream({ model: SONNET, max_tokens: 1024, messages: hello });
    const texts: string[] = [];
    stream.on("text", (text) => texts.push(text));
    const final = await stream.finalMessage();
    expect(texts).toEqual(["Hello ", "from ", "the ", "stand-in."]);
    expect(final.content).toEqual([{ type: "text", text: "Hello from the stand-in." }]);
    expect(await stream.finalText()).toBe("Hello from the stand-in.");
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({
      settled: true,
      cost: SONNET_COST_UT,
      usageSource: "provider",
      model: SONNET,
      provider: "anthropic",
      budgetRemaining: 100_000 - SONNET_COST_UT,
    });
    expect(receipt.usage).toEqual({
      inputTokens: 1_000,
      outputTokens: 400,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    expect(await receiptsOf(stream)).toEqual([receipt]);
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("abort() mid-stream ends the helper and settles only what was consumed", async () => {
    const { client, vault } = await governed();
    server.setBehaviour({ ...UNDELIVERED, reply: LONG_WORDS, chunkDelayMs: 25 });
    const stream = client.messages.stream({ model: SONNET, max_tokens: 100_000, messages: hello });
    const texts: string[] = [];
    stream.on("text", (text) => {
      texts.push(text);
      if (texts.length === 2) stream.abort();
    });
    await expect(stream.finalMessage()).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(stream.aborted).toBe(true);
    expect(texts).toHaveLength(2);
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({ settled: true, cost: TWO_WORDS_COST_UT, usageSource: "provider" });
    expect(receipt.usage).toMatchObject({ inputTokens: 1_000, outputTokens: 20 });
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("a server error event mid-stream rejects finalMessage() and settles what was consumed", async () => {
    const { client, vault } = await governed();
    server.setBehaviour({ ...UNDELIVERED, reply: LONG_WORDS, errorEventAfter: 2 });
    const stream = client.messages.stream({ model: SONNET, max_tokens: 100_000, messages: hello });
    const texts: string[] = [];
    stream.on("text", (text) => texts.push(text));
    const error = await stream.finalMessage().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("overloaded_error");
    expect(texts).toHaveLength(2);
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({ settled: true, cost: TWO_WORDS_COST_UT });
    expect(receipt.usage).toMatchObject({ inputTokens: 1_000, outputTokens: 20 });
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("abort() before any event spends nothing and releases the hold", async () => {
    const { client, vault } = await governed();
    server.setBehaviour({ ...SONNET_USAGE, delayMs: 200 });
    const stream = client.messages.stream({ model: SONNET, max_tokens: 1024, messages: hello });
    const texts: string[] = [];
    stream.on("text", (text) => texts.push(text));
    stream.abort();
    await expect(stream.finalMessage()).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(texts).toEqual([]);
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({ settled: false, cost: 0 });
    await expectReleased(vault);
    await client.destroy();
  });
});

describe("messages.parse (structured output)", () => {
  it("parses the JSON reply and is one governed call", async () => {
    const { client, vault } = await governed();
    server.setBehaviour({ ...SONNET_USAGE, reply: '{"answer":4}' });
    const parsed = await client.messages.parse({
      model: SONNET,
      max_tokens: 1024,
      messages: [{ role: "user", content: "What is 2+2?" }],
      output_config: {
        format: {
          type: "json_schema",
          schema: {
            type: "object",
            properties: { answer: { type: "number" } },
            required: ["answer"],
            additionalProperties: false,
          },
        },
      },
    });
    expect(parsed.parsed_output).toEqual({ answer: 4 });
    const sent = server.requests.at(-1)?.body as { output_config?: { format?: { type?: string } } };
    expect(sent.output_config?.format?.type).toBe("json_schema");
    const receipt = await receiptOf(parsed);
    expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT, usageSource: "provider" });
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });
});

const addTool = () => {
  const calls: Array<{ a: number; b: number }> = [];
  const tool = betaTool({
    name: "add",
    description: "Adds two numbers.",
    inputSchema: {
      type: "object",
      properties: { a: { type: "number" }, b: { type: "number" } },
      required: ["a", "b"],
    },
    run: ({ a, b }) => {
      calls.push({ a, b });
      return String(a + b);
    },
  });
  return { tool, calls };
};

describe("beta.messages", () => {
  it("create (plain) is spec-shaped, forwards the betas header and settles", async () => {
    const { client, vault } = await governed();
    server.setBehaviour(SONNET_USAGE);
    const { response, receipt, governance } = await client.beta.messages.create({
      model: SONNET,
      max_tokens: 1024,
      messages: hello,
      betas: ["context-management-2025-06-27"],
    });
    expect(response.content[0]).toMatchObject({ type: "text", text: "Hello from the stand-in." });
    expect(governance).toBe(receipt);
    const sent = server.requests.at(-1);
    expect(sent?.path).toBe("/v1/messages");
    expect(String(sent?.headers["anthropic-beta"])).toContain("context-management-2025-06-27");
    expect(sent?.body).not.toHaveProperty("betas");
    expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT, usageSource: "provider" });
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("create with stream: true is a GovernedStream settled at the reported usage", async () => {
    const { client, vault } = await governed();
    server.setBehaviour(SONNET_USAGE);
    const stream = await client.beta.messages.create({
      model: SONNET,
      max_tokens: 1024,
      messages: hello,
      stream: true,
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types[0]).toBe("message_start");
    expect(types.at(-1)).toBe("message_stop");
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT, usageSource: "provider" });
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("the stream() helper keeps finalMessage() and is one governed call", async () => {
    const { client, vault } = await governed();
    server.setBehaviour(SONNET_USAGE);
    const stream = client.beta.messages.stream({ model: SONNET, max_tokens: 1024, messages: hello });
    const texts: string[] = [];
    stream.on("text", (text) => texts.push(text));
    const final = await stream.finalMessage();
    expect(texts.join("")).toBe("Hello from the stand-in.");
    expect(final.usage).toMatchObject({ input_tokens: 1_000, output_tokens: 400 });
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT, usageSource: "provider" });
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("control: the bare SDK's toolRunner completes the same round against the stand-in", async () => {
    server.setBehaviour({
      ...SONNET_USAGE,
      toolUse: { name: "add", input: { a: 1, b: 2 } },
      reply: "It is 3.",
    });
    const bare = new Anthropic({ baseURL: server.url, apiKey: "test", maxRetries: 0 });
    for (const stream of [false, true]) {
      const { tool, calls } = addTool();
      const runner = bare.beta.messages.toolRunner({
        model: SONNET,
        max_tokens: 1024,
        messages: [{ role: "user", content: "What is 1 + 2?" }],
        tools: [tool],
        stream,
      });
      const final = await runner.runUntilDone();
      expect(final.content).toEqual([{ type: "text", text: "It is 3." }]);
      expect(calls).toEqual([{ a: 1, b: 2 }]);
    }
  });

  it("toolRunner with one tool round: each model request is its own hold", async () => {
    const { client, vault } = await governed();
    // Both requests report 1,000 in + 400 out: 90 UT each (see SONNET_COST_UT).
    server.setBehaviour({
      ...SONNET_USAGE,
      toolUse: { name: "add", input: { a: 1, b: 2 } },
      reply: "It is 3.",
    });
    const before = server.requests.length;
    const { tool, calls } = addTool();
    const runner = client.beta.messages.toolRunner({
      model: SONNET,
      max_tokens: 1024,
      messages: [{ role: "user", content: "What is 1 + 2?" }],
      tools: [tool],
    });
    const final = await runner.runUntilDone();
    expect(final.content).toEqual([{ type: "text", text: "It is 3." }]);
    expect(calls).toEqual([{ a: 1, b: 2 }]);
    expect(server.requests.length - before).toBe(2);
    const receipts = await within(receiptsOf(runner), "receiptsOf(runner)");
    expect(receipts).toHaveLength(2);
    expect(new Set(receipts.map((r) => r.transferId)).size).toBe(2);
    for (const receipt of receipts) {
      expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT, usageSource: "provider" });
    }
    expect(await receiptOf(runner)).toEqual(receipts[1]);
    await expectSpends(vault, receipts);
    await client.destroy();
  });

  it("toolRunner streaming one tool round: each streamed request is its own hold", async () => {
    const { client, vault } = await governed();
    server.setBehaviour({
      ...SONNET_USAGE,
      toolUse: { name: "add", input: { a: 1, b: 2 } },
      reply: "It is 3.",
    });
    const { tool, calls } = addTool();
    const runner = client.beta.messages.toolRunner({
      model: SONNET,
      max_tokens: 1024,
      messages: [{ role: "user", content: "What is 1 + 2?" }],
      tools: [tool],
      stream: true,
    });
    let streams = 0;
    for await (const stream of runner) {
      streams += 1;
      await stream.finalMessage();
    }
    expect(streams).toBe(2);
    expect(calls).toEqual([{ a: 1, b: 2 }]);
    const receipts = await within(receiptsOf(runner), "receiptsOf(runner)");
    expect(receipts).toHaveLength(2);
    for (const receipt of receipts) {
      expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT, usageSource: "provider" });
    }
    await expectSpends(vault, receipts);
    await client.destroy();
  });
});

describe("beta.messages.thread", () => {
  it("each send() on a thread is its own governed call", async () => {
    const { client, vault } = await governed();
    server.setBehaviour(SONNET_USAGE);
    const thread = client.beta.messages.thread({ model: SONNET, max_tokens: 1024 });
    const first = await thread.send({ role: "user", content: "Hello" });
    const second = await thread.send({ role: "user", content: "And again" });
    expect(second.content).toEqual([{ type: "text", text: "Hello from the stand-in." }]);
    const receipts = [
      await within(receiptOf(first), "receiptOf(first reply)"),
      await within(receiptOf(second), "receiptOf(second reply)"),
    ];
    for (const receipt of receipts) {
      expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT, usageSource: "provider" });
    }
    expect(receipts[0]?.transferId).not.toBe(receipts[1]?.transferId);
    await expectSpends(vault, receipts);
    await client.destroy();
  });
});

describe("messages.countTokens", () => {
  it("passes through to the provider: no hold, no receipt, no audit event", async () => {
    const received: TrustReceipt[] = [];
    const { client, vault } = await governed({ onReceipt: (r) => received.push(r) });
    const before = server.requests.length;
    const counted = await client.messages.countTokens({ model: SONNET, messages: hello });
    const betaCounted = await client.beta.messages.countTokens({ model: SONNET, messages: hello });
    // The stand-in counts ceil(bytes of JSON.stringify(messages) / 4): 39 bytes → 10.
    expect(counted).toMatchObject({ input_tokens: 10 });
    expect(betaCounted).toMatchObject({ input_tokens: 10 });
    const counts = server.requests.slice(before).filter((r) => r.path === "/v1/messages/count_tokens");
    expect(counts).toHaveLength(2);
    await expect(receiptOf(counted)).rejects.toThrow(/no governed call/);
    expect(received).toEqual([]);
    expect(auditKinds(vault)).toEqual([]);
    expect(await ledgerOf(vault)).toEqual({ posted: 0, pending: 0, remaining: 100_000 });
    await client.destroy();
  });
});

describe('shape: "native"', () => {
  it("messages.create returns the SDK's Message; receiptOf and onReceipt report its settlement", async () => {
    const received: TrustReceipt[] = [];
    const { client, vault } = await governed({ shape: "native", onReceipt: (r) => received.push(r) });
    server.setBehaviour(SONNET_USAGE);
    const message = await client.messages.create({ model: SONNET, max_tokens: 1024, messages: hello });
    expect(message).toMatchObject({ type: "message", role: "assistant", model: SONNET });
    expect(message).not.toHaveProperty("receipt");
    expect(message.content).toEqual([{ type: "text", text: "Hello from the stand-in." }]);
    const receipt = await receiptOf(message);
    expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT, usageSource: "provider" });
    expect(received).toEqual([receipt]);
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("stream: true returns the SDK's Stream with a working controller", async () => {
    const received: TrustReceipt[] = [];
    const { client, vault } = await governed({ shape: "native", onReceipt: (r) => received.push(r) });
    server.setBehaviour({ ...UNDELIVERED, reply: LONG_WORDS, chunkDelayMs: 25 });
    const stream = await client.messages.create({
      model: SONNET,
      max_tokens: 100_000,
      messages: hello,
      stream: true,
    });
    expect(stream).toBeInstanceOf(Stream);
    expect(stream.controller).toBeInstanceOf(AbortController);
    let words = 0;
    for await (const event of stream) {
      if (event.type === "content_block_delta" && ++words === 2) stream.controller.abort();
    }
    expect(words).toBe(2);
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({ settled: true, cost: TWO_WORDS_COST_UT, usageSource: "provider" });
    expect(received).toEqual([receipt]);
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("a native stream read to the end settles at the reported usage", async () => {
    const { client, vault } = await governed({ shape: "native" });
    server.setBehaviour(SONNET_USAGE);
    const stream = await client.messages.create({
      model: SONNET,
      max_tokens: 1024,
      messages: hello,
      stream: true,
    });
    expect(stream).toBeInstanceOf(Stream);
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.at(-1)).toBe("message_stop");
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT });
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it(".withResponse() gives the data and the raw Response, and the call is governed", async () => {
    const received: TrustReceipt[] = [];
    const { client, vault } = await governed({ shape: "native", onReceipt: (r) => received.push(r) });
    server.setBehaviour(SONNET_USAGE);
    const { data, response } = await client.messages
      .create({ model: SONNET, max_tokens: 1024, messages: hello })
      .withResponse();
    expect(response).toBeInstanceOf(Response);
    expect(response.status).toBe(200);
    expect(data.content).toEqual([{ type: "text", text: "Hello from the stand-in." }]);
    const receipt = await receiptOf(data);
    expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT, usageSource: "provider" });
    expect(received).toEqual([receipt]);
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("a denied call throws BudgetExceededError before any request reaches the provider", async () => {
    const received: TrustReceipt[] = [];
    const { client, vault } = await governed({
      budget: 10,
      shape: "native",
      onReceipt: (r) => received.push(r),
    });
    const before = server.requests.length;
    const call = client.messages.create({ model: SONNET, max_tokens: 100_000, messages: hello });
    await expect(call).rejects.toBeInstanceOf(BudgetExceededError);
    const streaming = client.messages.stream({ model: SONNET, max_tokens: 100_000, messages: hello });
    // The SDK's MessageStream wraps any error that is not its own in an AnthropicError, keeping it as the cause.
    const wrapped = await streaming.finalMessage().catch((e: unknown) => e);
    expect(wrapped).toBeInstanceOf(Anthropic.AnthropicError);
    expect((wrapped as Error).cause).toBeInstanceOf(BudgetExceededError);
    await expect(receiptOf(streaming)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(received).toEqual([]);
    expect(auditKinds(vault)).toEqual(["budget_exceeded", "budget_exceeded"]);
    expect(await ledgerOf(vault)).toEqual({ posted: 0, pending: 0, remaining: 10 });
    await client.destroy();
  });
});

describe("exact cost on more models: cache tiers, 1-hour writes, thinking", () => {
  // claude-haiku-4-5 per million tokens: input $1, output $5, cache read $0.10, 5-minute cache
  // write $1.25, 1-hour cache write $2. 10,001 in, 3,000 out, 40,000 read, 8,000 + 4,000 written:
  // 10,001 + 15,000 + 4,000 + 10,000 + 8,000 = 47,001 µ$ = 470.01 UT, rounded up to 471.
  const HAIKU = {
    model: "claude-haiku-4-5",
    usage: {
      inputTokens: 10_001,
      outputTokens: 3_000,
      cacheReadInputTokens: 40_000,
      cacheCreation: { ephemeral5m: 8_000, ephemeral1h: 4_000 },
    },
    cost: 471,
    receiptUsage: {
      inputTokens: 10_001,
      outputTokens: 3_000,
      cacheReadTokens: 40_000,
      cacheWriteTokens: 12_000,
      cacheWrite1hTokens: 4_000,
    },
  };
  // claude-opus-4-1 per million tokens: input $15, output $75, cache read $1.50, 5-minute cache
  // write $18.75, 1-hour cache write $30. 2,000 in, 1,000 out, 10,000 read, 4,000 + 2,000 written:
  // 30,000 + 75,000 + 15,000 + 75,000 + 60,000 = 255,000 µ$ = 2,550 UT.
  const OPUS = {
    model: "claude-opus-4-1",
    usage: {
      inputTokens: 2_000,
      outputTokens: 1_000,
      cacheReadInputTokens: 10_000,
      cacheCreation: { ephemeral5m: 4_000, ephemeral1h: 2_000 },
    },
    cost: 2_550,
    receiptUsage: {
      inputTokens: 2_000,
      outputTokens: 1_000,
      cacheReadTokens: 10_000,
      cacheWriteTokens: 6_000,
      cacheWrite1hTokens: 2_000,
    },
  };

  // The stand-in reports far more cached tokens than this prompt has, and a hold caps what is
  // posted, so max_tokens is high enough for the hold to cover the cost (no shortfall).
  for (const priced of [HAIKU, OPUS]) {
    it(`${priced.model}: plain and stream each settle at ${priced.cost} UT`, async () => {
      const { client, vault } = await governed();
      server.setBehaviour(priced.usage);
      const system = [
        {
          type: "text" as const,
          text: "Long cached context.",
          cache_control: { type: "ephemeral" as const, ttl: "1h" as const },
        },
      ];
      const plain = await client.messages.create({
        model: priced.model,
        max_tokens: 16_000,
        system,
        messages: hello,
      });
      const stream = await client.messages.create({
        model: priced.model,
        max_tokens: 16_000,
        system,
        messages: hello,
        stream: true,
      });
      for await (const _ of stream) {
        // read to the end
      }
      const streamed = await stream.receipt;
      for (const receipt of [plain.receipt, streamed]) {
        expect(receipt).toMatchObject({
          settled: true,
          cost: priced.cost,
          model: priced.model,
          usageSource: "provider",
        });
        // No shortfall or price warning; the default policy's high-cost note depends on the hold.
        expect(receipt.warnings.filter((warning) => !warning.startsWith("policy high-cost: "))).toEqual([]);
        expect(receipt.usage).toEqual(priced.receiptUsage);
      }
      await expectSpends(vault, [plain.receipt, streamed]);
      await client.destroy();
    });
  }

  // Anthropic bills thinking as output and reports it inside output_tokens: 1,000 in + 2,500 out
  // (thinking and text together) on claude-haiku-4-5 = 1,000 × $1/M + 2,500 × $5/M = 13,500 µ$ = 135 UT.
  it("thinking tokens are billed as output, as Anthropic reports them in output_tokens", async () => {
    const { client, vault } = await governed();
    server.setBehaviour({ inputTokens: 1_000, outputTokens: 2_500, thinking: "Two plus two is four." });
    const body = {
      model: "claude-haiku-4-5",
      max_tokens: 4096,
      thinking: { type: "enabled" as const, budget_tokens: 2048 },
      messages: hello,
    };
    const plain = await client.messages.create(body);
    expect(plain.response.content.map((block) => block.type)).toEqual(["thinking", "text"]);
    const helper = client.messages.stream(body);
    const thinking: string[] = [];
    helper.on("thinking", (delta) => thinking.push(delta));
    const final = await helper.finalMessage();
    expect(thinking.join("")).toBe("Two plus two is four.");
    expect(final.content.map((block) => block.type)).toEqual(["thinking", "text"]);
    const streamed = await receiptOf(helper);
    for (const receipt of [plain.receipt, streamed]) {
      expect(receipt).toMatchObject({ settled: true, cost: 135, usageSource: "provider" });
      expect(receipt.usage).toEqual({
        inputTokens: 1_000,
        outputTokens: 2_500,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
      });
    }
    await expectSpends(vault, [plain.receipt, streamed]);
    await client.destroy();
  });
});

// A one-page and a two-page PDF: the hold is sized per page.
function pdf(pages: number): string {
  const kids = Array.from({ length: pages }, (_, i) => `${3 + i} 0 R`).join(" ");
  const objects = [
    "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj",
    `2 0 obj << /Type /Pages /Kids [${kids}] /Count ${pages} >> endobj`,
    ...Array.from(
      { length: pages },
      (_, i) => `${3 + i} 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj`,
    ),
  ];
  return Buffer.from(`%PDF-1.4\n${objects.join("\n")}\ntrailer << /Root 1 0 R >>\n%%EOF\n`).toString(
    "base64",
  );
}
// A 1×1 PNG.
const PNG_1PX =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

describe("hold sizing", () => {
  /** The hold a request asks for, read from the refusal of a client with a budget of 0 UT. */
  async function holdOf(
    client: Awaited<ReturnType<typeof governed>>["client"],
    body: Parameters<Anthropic["messages"]["create"]>[0],
  ): Promise<number> {
    const error = await client.messages.create({ ...body, stream: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    return (error as BudgetExceededError).neededUsertokens;
  }

  it("system (string or blocks), tools, an image and a PDF each make the hold larger", async () => {
    const { client, vault } = await governed({ budget: 0 });
    const before = server.requests.length;
    const base = { model: SONNET, max_tokens: 1, messages: hello };
    // 3,000 bytes of system text is at least 750 tokens (4 bytes a token); at $3/M ≥ 22.5 UT more.
    const longText = "Answer in one short sentence. ".repeat(100);
    const bare = await holdOf(client, base);
    const systemString = await holdOf(client, { ...base, system: longText });
    const systemBlocks = await holdOf(client, { ...base, system: [{ type: "text", text: longText }] });
    const withTools = await holdOf(client, {
      ...base,
      tools: [
        {
          name: "lookup",
          description: longText,
          input_schema: { type: "object", properties: { query: { type: "string" } } },
        },
      ],
    });
    const image = await holdOf(client, {
      ...base,
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { type: "base64", media_type: "image/png", data: PNG_1PX } },
            { type: "text", text: "Say hello" },
          ],
        },
      ],
    });
    const document = (pages: number) =>
      holdOf(client, {
        ...base,
        messages: [
          {
            role: "user",
            content: [
              {
                type: "document",
                source: { type: "base64", media_type: "application/pdf", data: pdf(pages) },
              },
              { type: "text", text: "Say hello" },
            ],
          },
        ],
      });
    const onePage = await document(1);
    const twoPages = await document(2);

    expect(systemString - bare).toBeGreaterThanOrEqual(23);
    expect(systemBlocks - bare).toBeGreaterThanOrEqual(23);
    expect(withTools - bare).toBeGreaterThanOrEqual(23);
    // The largest image Anthropic bills is about 1,568 tokens (1.15 megapixels / 750): ≥ 47 UT at $3/M.
    expect(image - bare).toBeGreaterThanOrEqual(47);
    // A PDF page is billed as its text plus a page image, at least 1,500 tokens: ≥ 45 UT a page.
    expect(onePage - bare).toBeGreaterThanOrEqual(45);
    expect(twoPages - onePage).toBeGreaterThanOrEqual(45);
    expect(server.requests.length).toBe(before);
    expect(auditKinds(vault)).toEqual(Array(7).fill("budget_exceeded"));
    await client.destroy();
  });

  it("a prompt marked for a 1-hour cache write is held at that rate, so the call's cost fits its hold", async () => {
    const { client, vault } = await governed();
    // 30,000 bytes of English, which Anthropic counts as about 7,500 tokens (4 bytes a token), all
    // written to the 1-hour cache. claude-haiku-4-5: 10 in × $1/M + 7,500 1-hour writes × $2/M +
    // 10 out × $5/M = 10 + 15,000 + 50 = 15,060 µ$ = 150.6 UT, rounded up to 151.
    server.setBehaviour({
      inputTokens: 10,
      outputTokens: 10,
      cacheCreation: { ephemeral5m: 0, ephemeral1h: 7_500 },
    });
    const { receipt } = await client.messages.create({
      model: "claude-haiku-4-5",
      max_tokens: 10,
      system: [
        {
          type: "text",
          text: "Answer in one short sentence. ".repeat(1_000),
          cache_control: { type: "ephemeral", ttl: "1h" },
        },
      ],
      messages: hello,
    });
    expect(receipt).toMatchObject({ settled: true, cost: 151, warnings: [] });
    expect(receipt.usage).toMatchObject({ cacheWriteTokens: 7_500, cacheWrite1hTokens: 7_500 });
    // The whole cost is posted: the hold was not smaller than the call.
    await expectSpends(vault, [receipt]);
    await client.destroy();
  });

  it("max_tokens drives the output part of the hold", async () => {
    const { client } = await governed({ budget: 0 });
    const base = { model: SONNET, messages: hello };
    const thousand = await holdOf(client, { ...base, max_tokens: 1_000 });
    const twoThousand = await holdOf(client, { ...base, max_tokens: 2_000 });
    // 1,000 more output tokens at $15/M = 15,000 µ$ = 150 UT, exactly.
    expect(twoThousand - thousand).toBe(150);
    // The output part alone: 1,000 × $15/M = 150 UT, so the hold is at least that.
    expect(thousand).toBeGreaterThanOrEqual(150);
    await client.destroy();
  });
});

describe("SDK retries", () => {
  for (const status of [429, 529]) {
    it(`retries on ${status} inside one hold, settled once`, async () => {
      const { client, vault } = await governed({ maxRetries: 2 });
      server.setBehaviour({ ...SONNET_USAGE, failStatus: { status, times: 2, retryAfterMs: 1 } });
      const before = server.requests.length;
      const { receipt } = await client.messages.create({ model: SONNET, max_tokens: 1024, messages: hello });
      expect(server.requests.length - before).toBe(3);
      expect(receipt).toMatchObject({ settled: true, cost: SONNET_COST_UT });
      await expectSpends(vault, [receipt]);
      await client.destroy();
    });
  }

  it("the stream helper retries inside one hold too", async () => {
    const { client, vault } = await governed({ maxRetries: 2 });
    server.setBehaviour({ ...SONNET_USAGE, failStatus: { status: 429, times: 1, retryAfterMs: 1 } });
    const before = server.requests.length;
    const stream = client.messages.stream({ model: SONNET, max_tokens: 1024, messages: hello });
    await stream.finalMessage();
    expect(server.requests.length - before).toBe(2);
    const receipts = await receiptsOf(stream);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ settled: true, cost: SONNET_COST_UT });
    await expectSpends(vault, receipts);
    await client.destroy();
  });

  it("exhausted retries void the hold, restore the budget and surface the SDK's error class", async () => {
    const received: TrustReceipt[] = [];
    const { client, vault } = await governed({ maxRetries: 2, onReceipt: (r) => received.push(r) });
    server.setBehaviour({ ...SONNET_USAGE, failStatus: { status: 529, times: 3, retryAfterMs: 1 } });
    const before = server.requests.length;
    const error = await client.messages
      .create({ model: SONNET, max_tokens: 1024, messages: hello })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.OverloadedError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("overloaded_error");
    expect(server.requests.length - before).toBe(3);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ settled: false, cost: 0, budgetRemaining: 100_000 });
    await expectReleased(vault);

    server.setBehaviour({ ...SONNET_USAGE, failStatus: { status: 429, times: 3, retryAfterMs: 1 } });
    await expect(
      client.messages.create({ model: SONNET, max_tokens: 1024, messages: hello }),
    ).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    expect(auditKinds(vault)).toEqual(["call_failed", "call_failed"]);
    expect(await ledgerOf(vault)).toEqual({ posted: 0, pending: 0, remaining: 100_000 });
    await client.destroy();
  });
});

describe("AbortSignal", () => {
  it("aborting a non-stream messages.create before the response arrives releases its hold", async () => {
    const received: TrustReceipt[] = [];
    const { client, vault } = await governed({ onReceipt: (r) => received.push(r) });
    server.setBehaviour({ ...SONNET_USAGE, delayMs: 300 });
    const abort = new AbortController();
    const before = server.requests.length;
    const call = client.messages.create(
      { model: SONNET, max_tokens: 1024, messages: hello },
      { signal: abort.signal },
    );
    const outcome = call.then(
      () => undefined,
      (e: unknown) => e,
    );
    // Wait until the request is at the stand-in, so the hold is in place, then abort.
    while (server.requests.length === before) await new Promise((r) => setTimeout(r, 5));
    expect((await ledgerOf(vault)).pending).toBeGreaterThan(0);
    abort.abort();
    expect(await outcome).toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ settled: false, cost: 0 });
    await expectReleased(vault);
    await client.destroy();
  });
});

describe("concurrency", () => {
  it("8 concurrent stream helpers each settle at their own cost; the ledger spent their sum", async () => {
    const { client, vault } = await governed();
    // Default usage: input = ceil(bytes of {messages} / 4), which differs per prompt; output = 4 words.
    server.setBehaviour({ chunkDelayMs: 2 });
    const streams = Array.from({ length: 8 }, (_, i) =>
      client.messages.stream({
        model: SONNET,
        max_tokens: 1024,
        messages: [{ role: "user", content: "x".repeat(10_000 * (i + 1)) }],
      }),
    );
    const finals = await Promise.all(streams.map((stream) => stream.finalMessage()));
    const receipts = await Promise.all(streams.map((stream) => receiptOf(stream)));
    for (const [i, receipt] of receipts.entries()) {
      const { input_tokens, output_tokens } = finals[i]?.usage ?? { input_tokens: 0, output_tokens: 0 };
      expect(receipt.usage).toMatchObject({ inputTokens: input_tokens, outputTokens: output_tokens });
      // claude-sonnet-4-6: $3/M in, $15/M out; 1 UT = 100 µ$, rounded up.
      expect(receipt.cost).toBe(Math.ceil((input_tokens * 3 + output_tokens * 15) / 100));
    }
    expect(new Set(receipts.map((r) => r.cost)).size).toBe(8);
    expect(new Set(receipts.map((r) => r.transferId)).size).toBe(8);
    const total = receipts.reduce((sum, r) => sum + r.cost, 0);
    expect(auditKinds(vault)).toEqual(Array(8).fill("spend"));
    expect(await ledgerOf(vault)).toEqual({ posted: total, pending: 0, remaining: 100_000 - total });
    expect(verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead }).ok).toBe(true);
    await client.destroy();
  });
});
