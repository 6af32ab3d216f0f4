import { existsSync } from "node:fs";
import OpenAI from "openai";
import { Stream } from "openai/streaming";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { receiptOf, receiptsOf } from "../../src/adapters/receipt-trail.ts";
import { trust } from "../../src/adapters/trust.ts";
import type { AuditEvent } from "../../src/core/audit/audit-event.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { BudgetExceededError } from "../../src/core/errors.ts";
import type { LedgerBalance } from "../../src/core/ledger/ledger.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, STAND_IN_MODELS, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * The OpenAI SDK's surfaces beyond plain chat.completions.create, each driven through the real
 * `openai` package against the stand-in: the Responses API, the SDK's helpers (parse, stream,
 * runTools), the native shape, the SDK's retries, aborts, parallel streams, media sizing and
 * what is left ungoverned. Expected costs are worked out by hand from the published prices
 * (USD per million tokens; 1 UT = $0.0001, rounded up per call):
 *   gpt-4o-mini  input $0.15, cache read $0.075, output $0.60
 *   gpt-4o       input $2.50, cache read $1.25,  output $10
 *   o4-mini      input $1.10, cache read $0.275, output $4.40
 *   text-embedding-3-small  input $0.02
 */

let server: OpenAIStandIn;
const cleanups: Array<() => void> = [];
/** Destroyed after each test (destroy is idempotent), so a failing test leaves no open ledger behind. */
const clients: Array<{ destroy(): Promise<void> }> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  await Promise.all(clients.splice(0).map((client) => client.destroy()));
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const BUDGET = 100_000;

interface Setup {
  budget?: number;
  maxRetries?: number;
}

function vaultFor(budget: number) {
  const vault = makeTempVault({ budget });
  cleanups.push(vault.cleanup);
  return vault;
}

function sdk(maxRetries = 0): OpenAI {
  return new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries });
}

/** A spec-shaped client; every receipt it produces is also collected in `receipts`. */
async function specClient({ budget = BUDGET, maxRetries = 0 }: Setup = {}) {
  const vault = vaultFor(budget);
  const receipts: TrustReceipt[] = [];
  const client = await trust(sdk(maxRetries), {
    vaultBase: vault.base,
    onReceipt: (receipt) => receipts.push(receipt),
  });
  clients.push(client);
  return { client, vault, receipts };
}

async function nativeClient({ budget = BUDGET, maxRetries = 0 }: Setup = {}) {
  const vault = vaultFor(budget);
  const receipts: TrustReceipt[] = [];
  const client = await trust(sdk(maxRetries), {
    vaultBase: vault.base,
    shape: "native",
    onReceipt: (receipt) => receipts.push(receipt),
  });
  clients.push(client);
  return { client, vault, receipts };
}

function auditEvents(vault: { paths: { auditLog: string } }): AuditEvent[] {
  return existsSync(vault.paths.auditLog) ? readAuditLog(vault.paths.auditLog) : [];
}

function kinds(vault: { paths: { auditLog: string } }): string[] {
  return auditEvents(vault).map((event) => event.kind);
}

/** The vault's ledger balance, read from its SQLite file once the client has been destroyed. */
async function ledgerAfter(
  client: { destroy(): Promise<void> },
  vault: { paths: { ledger: string } },
  budget = BUDGET,
): Promise<LedgerBalance> {
  await client.destroy();
  const ledger = new SqliteLedger({ path: vault.paths.ledger, budgetUsertokens: budget });
  try {
    return await ledger.balance();
  } finally {
    await ledger.close();
  }
}

/** The receipt, or a clear failure when it does not resolve in time (instead of hanging the test). */
async function settledWithin(receipt: Promise<TrustReceipt>, ms: number): Promise<TrustReceipt> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the receipt did not resolve within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([receipt, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // read to the end
  }
}

function sum(receipts: TrustReceipt[]): number {
  return receipts.reduce((total, receipt) => total + receipt.cost, 0);
}

const hello = [{ role: "user" as const, content: "Say hello" }];
const chatRequestsSince = (before: number) =>
  server.requests.slice(before).filter((request) => request.path === "/v1/chat/completions");

describe("responses.create", () => {
  it("prices cached input at the cache-read rate and reasoning as output, in the spec shape", async () => {
    const { client, vault } = await specClient();
    // 100k input of which 40k cached; 20k output of which 15k reasoning (both already inside the totals).
    server.setBehaviour({
      promptTokens: 100_000,
      cachedTokens: 40_000,
      completionTokens: 20_000,
      reasoningTokens: 15_000,
    });
    const { response, receipt, governance } = await client.responses.create({
      model: "o4-mini",
      input: "Say hello",
      max_output_tokens: 100_000,
    });
    expect(response.object).toBe("response");
    expect(response.output_text).toBe("Hello from the stand-in.");
    expect(governance).toBe(receipt);
    // o4-mini: 60k × $1.10/M + 40k × $0.275/M + 20k × $4.40/M = $0.066 + $0.011 + $0.088 = $0.165 = 1,650 UT.
    expect(receipt).toMatchObject({
      cost: 1_650,
      warnings: [expect.stringMatching(/^policy high-cost: /)],
      settled: true,
      usageSource: "provider",
      model: "o4-mini",
      provider: "openai",
      budgetRemaining: BUDGET - 1_650,
    });
    expect(receipt.usage).toEqual({
      inputTokens: 60_000,
      outputTokens: 20_000,
      cacheReadTokens: 40_000,
      cacheWriteTokens: 0,
    });
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    expect(events[0]).toMatchObject({ hash: receipt.auditHash, data: { costUsertokens: 1_650 } });
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 1_650, pendingUsertokens: 0 });
  });

  it("streams every event through a GovernedStream and settles at response.completed's usage", async () => {
    const { client, vault } = await specClient();
    const reply = "one two three four";
    server.setBehaviour({ reply, promptTokens: 200_000, cachedTokens: 100_000, completionTokens: 50_000 });
    const stream = await client.responses.create({
      model: "gpt-4o-mini",
      input: "Count",
      max_output_tokens: 100_000,
      stream: true,
    });
    const events: Array<{ type: string; sequence_number: number; delta?: string }> = [];
    for await (const event of stream) events.push(event as (typeof events)[number]);
    expect(events.map((event) => event.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      ...Array(4).fill("response.output_text.delta"),
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index));
    expect(events.map((event) => event.delta ?? "").join("")).toBe(reply);
    const receipt = await stream.receipt;
    // 100k input × $0.15/M + 100k cached × $0.075/M + 50k output × $0.60/M = $0.0525 = 525 UT.
    expect(receipt).toMatchObject({ cost: 525, settled: true, usageSource: "provider", warnings: [] });
    expect(receipt.usage).toEqual({
      inputTokens: 100_000,
      outputTokens: 50_000,
      cacheReadTokens: 100_000,
      cacheWriteTokens: 0,
    });
    expect(await stream.governance).toBe(receipt);
    expect(kinds(vault)).toEqual(["spend"]);
    expect(verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead }).ok).toBe(true);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 525, pendingUsertokens: 0 });
  });

  it("settles what was consumed when the consumer breaks before response.completed", async () => {
    const { client, vault } = await specClient();
    // Had it been read to the end, the reported usage would cost 1M × $0.15/M + 1M × $0.60/M = 7,500 UT.
    server.setBehaviour({
      reply: "a b c d e f g h i j k l m n o p",
      promptTokens: 1_000_000,
      completionTokens: 1_000_000,
    });
    const stream = await client.responses.create({ model: "gpt-4o-mini", input: "Letters", stream: true });
    let deltas = 0;
    for await (const event of stream) {
      if (event.type === "response.output_text.delta" && ++deltas === 2) break;
    }
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    // Two one-letter words were received; the estimate is tiny, nowhere near the unread usage.
    expect(receipt.usage.outputTokens).toBeGreaterThan(0);
    expect(receipt.usage.outputTokens).toBeLessThan(10);
    expect(receipt.cost).toBeLessThan(10);
    expect(kinds(vault)).toEqual(["spend"]);
    const balance = await ledgerAfter(client, vault);
    expect(balance).toMatchObject({ postedUsertokens: receipt.cost, pendingUsertokens: 0 });
  });

  it("settles what was consumed when the socket dies mid-stream, and surfaces the SDK's error", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ reply: "a b c d e f", failAfterChunks: 2 });
    // What the SDK itself throws for this failure, without usertrust in between.
    const plain = await sdk().responses.create({ model: "gpt-4o-mini", input: "Letters", stream: true });
    const plainFailure = await drain(plain).catch((error: unknown) => error);
    expect(plainFailure).toBeInstanceOf(Error);

    const stream = await client.responses.create({ model: "gpt-4o-mini", input: "Letters", stream: true });
    const deltas: string[] = [];
    let failure: unknown;
    try {
      for await (const event of stream)
        if (event.type === "response.output_text.delta") deltas.push(event.delta);
    } catch (error) {
      failure = error;
    }
    expect(deltas).toEqual(["a ", "b "]);
    expect(failure).toBeInstanceOf((plainFailure as Error).constructor);
    expect((failure as Error).message).toBe((plainFailure as Error).message);
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    expect(receipt.usage.outputTokens).toBeGreaterThan(0);
    expect(kinds(vault)).toEqual(["spend"]);
    const balance = await ledgerAfter(client, vault);
    expect(balance).toMatchObject({ postedUsertokens: receipt.cost, pendingUsertokens: 0 });
  });
});

describe("the SDK's helpers go through the governed create", () => {
  it("responses.stream(): events, finalResponse() and a receipt equal to what the ledger spent", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ promptTokens: 100_000, completionTokens: 10_000 });
    const stream = client.responses.stream({
      model: "gpt-4o-mini",
      input: "Say hello",
      max_output_tokens: 100_000,
    });
    const deltas: string[] = [];
    stream.on("response.output_text.delta", (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    expect(final.output_text).toBe("Hello from the stand-in.");
    expect(deltas.join("")).toBe("Hello from the stand-in.");
    const receipt = await receiptOf(stream);
    // 100k × $0.15/M + 10k × $0.60/M = $0.021 = 210 UT.
    expect(receipt).toMatchObject({ cost: 210, settled: true, usageSource: "provider", warnings: [] });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 210, pendingUsertokens: 0 });
  });

  it("responses.parse(): the parsed output, and receiptOf(result) priced from its usage", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ reply: '{"greeting":"hi there"}', promptTokens: 1_000_000, completionTokens: 0 });
    const result = await client.responses.parse({
      model: "gpt-4o-mini",
      input: "Greet me as JSON",
      max_output_tokens: 300_000,
      text: {
        format: {
          type: "json_schema",
          name: "greeting",
          strict: true,
          schema: {
            type: "object",
            properties: { greeting: { type: "string" } },
            required: ["greeting"],
            additionalProperties: false,
          },
        },
      },
    });
    expect(result.output_parsed).toEqual({ greeting: "hi there" });
    const receipt = await receiptOf(result);
    // 1M input × $0.15/M = 1,500 UT.
    expect(receipt).toMatchObject({
      cost: 1_500,
      settled: true,
      usageSource: "provider",
      warnings: [expect.stringMatching(/^policy high-cost: /)],
    });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 1_500, pendingUsertokens: 0 });
  });

  it("chat.completions.parse(): the parsed message, and receiptOf(completion)", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ reply: '{"greeting":"hi there"}', promptTokens: 0, completionTokens: 100_000 });
    const completion = await client.chat.completions.parse({
      model: "gpt-4o-mini",
      messages: hello,
      max_tokens: 100_000,
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "greeting",
          strict: true,
          schema: {
            type: "object",
            properties: { greeting: { type: "string" } },
            required: ["greeting"],
            additionalProperties: false,
          },
        },
      },
    });
    expect(completion.choices[0]?.message.parsed).toEqual({ greeting: "hi there" });
    const receipt = await receiptOf(completion);
    // 100k output × $0.60/M = 600 UT.
    expect(receipt).toMatchObject({ cost: 600, settled: true, usageSource: "provider", warnings: [] });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 600, pendingUsertokens: 0 });
  });

  it("chat.completions.stream(): content events, finalChatCompletion() and the provider's usage", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ reply: "one two three", promptTokens: 100_000, completionTokens: 10_000 });
    const runner = client.chat.completions.stream({
      model: "gpt-4o-mini",
      messages: hello,
      max_tokens: 100_000,
    });
    const deltas: string[] = [];
    runner.on("content", (delta) => deltas.push(delta));
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe("one two three");
    expect(deltas.join("")).toBe("one two three");
    const receipt = await receiptOf(runner);
    // 100k × $0.15/M + 10k × $0.60/M = 210 UT.
    expect(receipt).toMatchObject({ cost: 210, settled: true, usageSource: "provider", warnings: [] });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 210, pendingUsertokens: 0 });
  });

  it("receiptOf a helper that failed before any model call rejects with the helper's error instead of waiting forever", async () => {
    const { client, vault } = await specClient();
    const sent = server.requests.length;
    // The SDK's tool runner refuses n > 1 before it calls create.
    const runner = client.chat.completions.runTools({
      model: "gpt-4o-mini",
      messages: hello,
      n: 2,
      tools: [
        {
          type: "function",
          function: {
            name: "noop",
            description: "Does nothing",
            parameters: { type: "object", properties: {} },
            parse: JSON.parse,
            function: () => "ok",
          },
        },
      ],
    });
    await expect(receiptOf(runner)).rejects.toThrow(/only support n=1/);
    await expect(receiptsOf(runner)).rejects.toThrow(/only support n=1/);
    expect(server.requests.length).toBe(sent);
    expect(kinds(vault)).toEqual([]);
  });

  it("chat.completions.runTools(): each model request of a tool round is its own hold", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({
      toolCall: { name: "get_weather", arguments: '{"city":"Paris"}' },
      reply: "It is sunny.",
    });
    const before = server.requests.length;
    const calls: string[] = [];
    const runner = client.chat.completions.runTools({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "What is the weather in Paris?" }],
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "The weather in a city",
            parse: JSON.parse,
            parameters: { type: "object", properties: { city: { type: "string" } } },
            function: ({ city }: { city: string }) => {
              calls.push(city);
              return `sunny in ${city}`;
            },
          },
        },
      ],
    });
    expect(await runner.finalContent()).toBe("It is sunny.");
    expect(calls).toEqual(["Paris"]);
    const sent = chatRequestsSince(before);
    expect(sent).toHaveLength(2);
    const second = sent[1]?.body as { messages: Array<{ role: string; content?: unknown }> };
    expect(second.messages.at(-1)).toMatchObject({ role: "tool", content: "sunny in Paris" });

    const receipts = await receiptsOf(runner);
    expect(receipts).toHaveLength(2);
    for (const receipt of receipts) expect(receipt).toMatchObject({ settled: true, usageSource: "provider" });
    expect(new Set(receipts.map((receipt) => receipt.transferId)).size).toBe(2);
    // The second request carries the tool call and its result, so it reports more input.
    expect(receipts[1]?.usage.inputTokens).toBeGreaterThan(receipts[0]?.usage.inputTokens ?? Infinity);
    const spends = auditEvents(vault).filter((event) => event.kind === "spend");
    expect(spends.map((event) => event.data.transferId)).toEqual(
      receipts.map((receipt) => receipt.transferId),
    );
    expect(kinds(vault)).toEqual(["spend", "spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: sum(receipts),
      pendingUsertokens: 0,
    });
  });
});

describe("more helper paths", () => {
  it("responses.stream().abort() mid-way settles what was read", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ reply: "a b c d e f g h i j", chunkDelayMs: 5, promptTokens: 1_000_000 });
    const stream = client.responses.stream({ model: "gpt-4o-mini", input: "Letters" });
    let deltas = 0;
    stream.on("response.output_text.delta", () => {
      if (++deltas === 2) stream.abort();
    });
    await expect(stream.finalResponse()).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(deltas).toBe(2);
    const receipt = await receiptOf(stream);
    // The 1M-token usage was on response.completed, never read: the estimate is what was.
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    expect(receipt.cost).toBeLessThan(10);
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: receipt.cost,
      pendingUsertokens: 0,
    });
  });

  it("chat.completions.runTools({ stream: true }): each streamed request of a tool round is its own hold", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({
      toolCall: { name: "get_weather", arguments: '{"city":"Oslo"}' },
      reply: "It is snowing.",
    });
    const before = server.requests.length;
    const runner = client.chat.completions.runTools({
      model: "gpt-4o-mini",
      stream: true,
      messages: [{ role: "user", content: "What is the weather in Oslo?" }],
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "The weather in a city",
            parse: JSON.parse,
            parameters: { type: "object", properties: { city: { type: "string" } } },
            function: ({ city }: { city: string }) => `snowing in ${city}`,
          },
        },
      ],
    });
    expect(await runner.finalContent()).toBe("It is snowing.");
    expect(chatRequestsSince(before)).toHaveLength(2);
    const receipts = await receiptsOf(runner);
    expect(receipts).toHaveLength(2);
    // Both streams asked for (and were settled at) the provider's usage.
    for (const receipt of receipts) expect(receipt).toMatchObject({ settled: true, usageSource: "provider" });
    expect(kinds(vault)).toEqual(["spend", "spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: sum(receipts),
      pendingUsertokens: 0,
    });
  });
  it("a runTools round the budget cannot hold stops the runner before it reaches the provider", async () => {
    // Budget 30 UT. Each gpt-4o-mini request holds its prompt plus 4,096 default output tokens
    // (4,096 × $0.60/M ≈ 24.6 UT, so about 25 UT). The first request reports 1,000 in + 3,000 out:
    // 1,000 × $0.15/M + 3,000 × $0.60/M = $0.00195 = 20 UT, leaving 10 UT, too little for the second.
    const { client, vault, receipts } = await specClient({ budget: 30 });
    server.setBehaviour({
      toolCall: { name: "lookup", arguments: "{}" },
      reply: "done",
      promptTokens: 1_000,
      completionTokens: 3_000,
    });
    const before = server.requests.length;
    const runner = client.chat.completions.runTools({
      model: "gpt-4o-mini",
      messages: hello,
      tools: [
        {
          type: "function",
          function: {
            name: "lookup",
            description: "Looks something up",
            parameters: { type: "object", properties: {} },
            function: () => "found",
          },
        },
      ],
    });
    const failure = await runner.finalContent().catch((error: unknown) => error);
    // The SDK's runner wraps errors that are not its own in an OpenAIError; the refusal is its cause.
    expect(failure).toBeInstanceOf(OpenAI.OpenAIError);
    expect((failure as Error).cause).toBeInstanceOf(BudgetExceededError);
    expect(chatRequestsSince(before)).toHaveLength(1);
    await expect(receiptsOf(runner)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({
      cost: 20,
      settled: true,
      usageSource: "provider",
      budgetRemaining: 10,
    });
    expect(kinds(vault)).toEqual(["spend", "budget_exceeded"]);
    expect(await ledgerAfter(client, vault, 30)).toMatchObject({
      postedUsertokens: 20,
      pendingUsertokens: 0,
    });
  });
});

describe('shape "native"', () => {
  it("chat.completions.create returns the SDK's own ChatCompletion; receiptOf and onReceipt give its receipt", async () => {
    const { client, vault, receipts } = await nativeClient();
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 1_000_000 });
    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      max_tokens: 2_000_000,
    });
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0]?.message.content).toBe("Hello from the stand-in.");
    expect(completion).not.toHaveProperty("receipt");
    expect(completion).not.toHaveProperty("response");
    const receipt = await receiptOf(completion);
    // 1M × $0.15/M + 1M × $0.60/M = $0.75 = 7,500 UT.
    expect(receipt).toMatchObject({
      cost: 7_500,
      settled: true,
      usageSource: "provider",
      warnings: [expect.stringMatching(/^policy high-cost: /)],
    });
    expect(receipts).toEqual([receipt]);
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 7_500, pendingUsertokens: 0 });
  });

  it("a stream is the SDK's Stream with a working controller; receiptOf(stream) resolves once it is read", async () => {
    const { client, vault, receipts } = await nativeClient();
    server.setBehaviour({ reply: "one two three", promptTokens: 100_000, completionTokens: 10_000 });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      max_tokens: 100_000,
      stream: true,
    });
    expect(stream).toBeInstanceOf(Stream);
    expect(stream.controller).toBeInstanceOf(AbortController);
    expect(stream.controller.signal.aborted).toBe(false);
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("one two three");
    const receipt = await receiptOf(stream);
    // 100k × $0.15/M + 10k × $0.60/M = 210 UT.
    expect(receipt).toMatchObject({ cost: 210, settled: true, usageSource: "provider", warnings: [] });
    expect(receipts).toEqual([receipt]);
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 210, pendingUsertokens: 0 });
  });

  it("a Stream split with tee() and read to the end on both branches settles at the provider's usage", async () => {
    const { client, vault, receipts } = await nativeClient();
    server.setBehaviour({ reply: "one two three", promptTokens: 100_000, completionTokens: 10_000 });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      max_tokens: 100_000,
      stream: true,
    });
    const [left, right] = stream.tee();
    const read = async (branch: AsyncIterable<OpenAI.ChatCompletionChunk>) => {
      let text = "";
      for await (const chunk of branch) text += chunk.choices[0]?.delta.content ?? "";
      return text;
    };
    expect(await read(left)).toBe("one two three");
    expect(await read(right)).toBe("one two three");
    // Both branches were read to the end, so the call is over and its receipt is due now.
    const receipt = await settledWithin(receiptOf(stream), 5_000);
    // 100k × $0.15/M + 10k × $0.60/M = 210 UT.
    expect(receipt).toMatchObject({ cost: 210, settled: true, usageSource: "provider", warnings: [] });
    expect(receipts).toEqual([receipt]);
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 210, pendingUsertokens: 0 });
  });

  it("a Stream read through toReadableStream() settles at the provider's usage", async () => {
    const { client, vault } = await nativeClient();
    server.setBehaviour({ reply: "one two three", promptTokens: 100_000, completionTokens: 10_000 });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      max_tokens: 100_000,
      stream: true,
    });
    const restored = Stream.fromReadableStream<OpenAI.ChatCompletionChunk>(
      stream.toReadableStream(),
      new AbortController(),
    );
    let text = "";
    for await (const chunk of restored) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("one two three");
    const receipt = await settledWithin(receiptOf(stream), 5_000);
    expect(receipt).toMatchObject({ cost: 210, settled: true, usageSource: "provider", warnings: [] });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 210, pendingUsertokens: 0 });
  });

  it("aborting a native Stream through its controller ends it and settles what was read", async () => {
    const { client, vault } = await nativeClient();
    server.setBehaviour({ reply: "a b c d e f g h i j", chunkDelayMs: 5 });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      stream: true,
    });
    let seen = 0;
    for await (const _ of stream) if (++seen === 2) stream.controller.abort();
    expect(seen).toBeLessThan(10);
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: receipt.cost,
      pendingUsertokens: 0,
    });
  });

  it(".withResponse() returns { data, response } and the call is governed", async () => {
    const { client, vault, receipts } = await nativeClient();
    server.setBehaviour({ promptTokens: 0, completionTokens: 100_000 });
    const { data, response } = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages: hello, max_tokens: 100_000 })
      .withResponse();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(data.choices[0]?.message.content).toBe("Hello from the stand-in.");
    const receipt = await receiptOf(data);
    // 100k output × $0.60/M = 600 UT.
    expect(receipt).toMatchObject({ cost: 600, settled: true, usageSource: "provider", warnings: [] });
    expect(receipts).toEqual([receipt]);
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 600, pendingUsertokens: 0 });
  });

  it(".withResponse() on a stream gives the metered Stream; its receipt resolves once it is read", async () => {
    const { client, vault, receipts } = await nativeClient();
    server.setBehaviour({ reply: "one two", promptTokens: 100_000, completionTokens: 10_000 });
    const { data, response } = await client.responses
      .create({ model: "gpt-4o-mini", input: "Count", max_output_tokens: 100_000, stream: true })
      .withResponse();
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(data).toBeInstanceOf(Stream);
    const types: string[] = [];
    for await (const event of data) types.push(event.type);
    expect(types.at(-1)).toBe("response.completed");
    const receipt = await receiptOf(data);
    // 100k × $0.15/M + 10k × $0.60/M = 210 UT.
    expect(receipt).toMatchObject({ cost: 210, settled: true, usageSource: "provider", warnings: [] });
    expect(receipts).toEqual([receipt]);
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 210, pendingUsertokens: 0 });
  });

  it("onReceipt gets the receipt of every governed call, in order", async () => {
    const { client, vault, receipts } = await nativeClient();
    const chat = await client.chat.completions.create({ model: "gpt-4o-mini", messages: hello });
    const response = await client.responses.create({ model: "gpt-4o-mini", input: "Say hello" });
    const embedding = await client.embeddings.create({ model: "text-embedding-3-small", input: "hello" });
    const expected = [await receiptOf(chat), await receiptOf(response), await receiptOf(embedding)];
    expect(receipts).toEqual(expected);
    expect(kinds(vault)).toEqual(["spend", "spend", "spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: sum(expected),
      pendingUsertokens: 0,
    });
  });

  it("a call the budget cannot hold rejects with BudgetExceededError and never reaches the provider", async () => {
    const { client, vault, receipts } = await nativeClient({ budget: 5 });
    const before = server.requests.length;
    await expect(
      client.chat.completions.create({ model: "gpt-4o", messages: hello, max_tokens: 100_000 }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    await expect(
      client.chat.completions.create({ model: "gpt-4o", messages: hello, max_tokens: 100_000, stream: true }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    await expect(
      client.responses.create({ model: "gpt-4o", input: "Say hello", max_output_tokens: 100_000 }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(receipts).toEqual([]);
    expect(kinds(vault)).toEqual(["budget_exceeded", "budget_exceeded", "budget_exceeded"]);
    expect(await ledgerAfter(client, vault, 5)).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });
});

describe("the SDK's own retries", () => {
  for (const status of [429, 500]) {
    it(`retries after HTTP ${status} inside one governed call: one hold, settled once`, async () => {
      const { client, vault, receipts } = await specClient({ maxRetries: 2 });
      server.setBehaviour({
        failStatus: { status, times: 2, retryAfterMs: 1 },
        promptTokens: 100_000,
        completionTokens: 10_000,
      });
      const before = server.requests.length;
      const { receipt } = await client.responses.create({
        model: "gpt-4o-mini",
        input: "Say hello",
        max_output_tokens: 100_000,
      });
      expect(server.requests.length - before).toBe(3);
      // 100k × $0.15/M + 10k × $0.60/M = 210 UT, charged once.
      expect(receipt).toMatchObject({ cost: 210, settled: true, usageSource: "provider", warnings: [] });
      expect(receipts).toEqual([receipt]);
      expect(kinds(vault)).toEqual(["spend"]);
      expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 210, pendingUsertokens: 0 });
    });
  }

  it("retries a stream request inside one governed call too", async () => {
    const { client, vault, receipts } = await specClient({ maxRetries: 2 });
    server.setBehaviour({
      failStatus: { status: 429, times: 1, retryAfterMs: 1 },
      promptTokens: 100_000,
      completionTokens: 10_000,
    });
    const before = server.requests.length;
    const stream = await client.responses.create({
      model: "gpt-4o-mini",
      input: "Say hello",
      max_output_tokens: 100_000,
      stream: true,
    });
    await drain(stream);
    expect(server.requests.length - before).toBe(2);
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject({ cost: 210, settled: true, usageSource: "provider", warnings: [] });
    expect(receipts).toEqual([receipt]);
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 210, pendingUsertokens: 0 });
  });

  it("when retries run out, voids the hold, frees the budget and surfaces the SDK's error class", async () => {
    const { client, vault, receipts } = await specClient({ maxRetries: 2 });
    server.setBehaviour({ failStatus: { status: 500, times: 3, retryAfterMs: 1 } });
    const before = server.requests.length;
    await expect(
      client.chat.completions.create({ model: "gpt-4o-mini", messages: hello }),
    ).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    expect(server.requests.length - before).toBe(3);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ settled: false, cost: 0, budgetRemaining: BUDGET });
    expect(kinds(vault)).toEqual(["call_failed"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: 0,
      pendingUsertokens: 0,
      remainingUsertokens: BUDGET,
    });
  });

  it("a rate limit that outlasts the retries surfaces as the SDK's RateLimitError", async () => {
    const { client, vault, receipts } = await specClient({ maxRetries: 2 });
    server.setBehaviour({ failStatus: { status: 429, times: 3, retryAfterMs: 1 } });
    await expect(
      client.responses.create({ model: "gpt-4o-mini", input: "Say hello" }),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    expect(receipts.map((receipt) => receipt.settled)).toEqual([false]);
    expect(kinds(vault)).toEqual(["call_failed"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: 0,
      remainingUsertokens: BUDGET,
    });
  });
});

describe("AbortSignal", () => {
  it("aborting before the response arrives releases the hold", async () => {
    const { client, vault, receipts } = await specClient();
    server.setBehaviour({ delayMs: 500 });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 20);
    await expect(
      client.responses.create({ model: "gpt-4o-mini", input: "Say hello" }, { signal: abort.signal }),
    ).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ settled: false, cost: 0, budgetRemaining: BUDGET });
    expect(kinds(vault)).toEqual(["call_failed"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: 0,
      pendingUsertokens: 0,
      remainingUsertokens: BUDGET,
    });
  });

  it("aborting a stream request before its first byte releases the hold", async () => {
    const { client, vault, receipts } = await specClient();
    server.setBehaviour({ delayMs: 500 });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 20);
    await expect(
      client.chat.completions.create(
        { model: "gpt-4o-mini", messages: hello, stream: true },
        { signal: abort.signal },
      ),
    ).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ settled: false, cost: 0, budgetRemaining: BUDGET });
    expect(kinds(vault)).toEqual(["call_failed"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });

  it("aborting a stream mid-way settles what was consumed", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({
      reply: "a b c d e f g h i j k l",
      chunkDelayMs: 5,
      promptTokens: 1_000_000,
      completionTokens: 1_000_000,
    });
    const abort = new AbortController();
    const stream = await client.responses.create(
      { model: "gpt-4o-mini", input: "Letters", stream: true },
      { signal: abort.signal },
    );
    const deltas: string[] = [];
    // The SDK ends a stream aborted by the caller quietly; the loop simply stops.
    for await (const event of stream) {
      if (event.type === "response.output_text.delta" && deltas.push(event.delta) === 2) abort.abort();
    }
    expect(deltas).toEqual(["a ", "b "]);
    const receipt = await stream.receipt;
    // response.completed (1M + 1M tokens, 7,500 UT) was never read: the estimate covers what was.
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    expect(receipt.cost).toBeLessThan(10);
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: receipt.cost,
      pendingUsertokens: 0,
    });
  });
});

describe("parallel streams", () => {
  it("eight streams read interleaved each settle at their own usage; the ledger spent their sum", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ reply: "one two three four five", chunkDelayMs: 2 });
    // Prompts of different lengths, so every stream reports (and must be charged) a different usage.
    const streams = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        client.chat.completions.create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "x".repeat(40_000 * (index + 1)) }],
          stream: true,
          stream_options: { include_usage: true },
        }),
      ),
    );
    const iterators = streams.map((stream) => stream[Symbol.asyncIterator]());
    const reported: Array<{ prompt_tokens: number; completion_tokens: number } | undefined> = [];
    const text = streams.map(() => "");
    let open = iterators.map((_, index) => index);
    while (open.length > 0) {
      const next = await Promise.all(open.map((index) => iterators[index]?.next()));
      open = open.filter((index, position) => {
        const result = next[position];
        if (result === undefined || result.done === true) return false;
        const chunk = result.value;
        text[index] += chunk.choices[0]?.delta.content ?? "";
        if (chunk.usage) reported[index] = chunk.usage;
        return true;
      });
    }
    expect(text).toEqual(Array(8).fill("one two three four five"));
    const receipts = await Promise.all(streams.map((stream) => stream.receipt));
    for (const [index, receipt] of receipts.entries()) {
      const usage = reported[index];
      expect(usage).toBeDefined();
      expect(receipt).toMatchObject({ settled: true, usageSource: "provider", warnings: [] });
      expect(receipt.usage).toMatchObject({
        inputTokens: usage?.prompt_tokens,
        outputTokens: usage?.completion_tokens,
      });
      // gpt-4o-mini: $0.15/M input = 0.0015 UT a token, $0.60/M output = 0.006 UT a token,
      // so (15 × input + 60 × output) / 10,000 UT, rounded up.
      const input = usage?.prompt_tokens ?? 0;
      const output = usage?.completion_tokens ?? 0;
      expect(receipt.cost).toBe(Math.ceil((15 * input + 60 * output) / 10_000));
    }
    expect(new Set(receipts.map((receipt) => receipt.cost)).size).toBe(8);
    expect(new Set(receipts.map((receipt) => receipt.transferId)).size).toBe(8);
    expect(kinds(vault)).toEqual(Array(8).fill("spend"));
    expect(await ledgerAfter(client, vault)).toMatchObject({
      postedUsertokens: sum(receipts),
      pendingUsertokens: 0,
    });
  });
});

describe("embeddings.create", () => {
  it("keeps working with an exact cost", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ promptTokens: 75_000 });
    // Three texts of 100 kB each: enough input that the hold covers the 75k tokens the provider reports.
    const text = "word ".repeat(20_000);
    const { response, receipt } = await client.embeddings.create({
      model: "text-embedding-3-small",
      input: [text, text, text],
    });
    expect(response.data).toHaveLength(3);
    // text-embedding-3-small: 75k × $0.02/M = $0.0015 = 15 UT.
    expect(receipt).toMatchObject({ cost: 15, settled: true, usageSource: "provider", warnings: [] });
    expect(receipt.usage).toEqual({
      inputTokens: 75_000,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    expect(kinds(vault)).toEqual(["spend"]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 15, pendingUsertokens: 0 });
  });
});

describe("image inputs are sized into the hold", () => {
  const image =
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
  const chatWith = (detail: "low" | "auto" | undefined) => ({
    model: "gpt-4o",
    max_tokens: 1,
    messages: [
      {
        role: "user" as const,
        content: [
          { type: "text" as const, text: "Describe this" },
          ...(detail === undefined
            ? []
            : [
                {
                  type: "image_url" as const,
                  image_url: detail === "low" ? { url: image, detail } : { url: image },
                },
              ]),
        ],
      },
    ],
  });

  it("holds 85 tokens for a low-detail image and up to 1,536 for a default-detail one", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ promptTokens: 1, completionTokens: 1 });
    await client.chat.completions.create(chatWith(undefined));
    await client.chat.completions.create(chatWith("low"));
    await client.chat.completions.create(chatWith("auto"));
    const [none, low, high] = auditEvents(vault).map((event) => event.data.holdUsertokens as number);
    // gpt-4o input $2.50/M: 85 tokens = 2.125 UT; 1,536 tokens = 38.4 UT (holds round up, so ±1).
    expect((low ?? 0) - (none ?? 0)).toBeGreaterThanOrEqual(2);
    expect((low ?? 0) - (none ?? 0)).toBeLessThanOrEqual(3);
    expect((high ?? 0) - (none ?? 0)).toBeGreaterThanOrEqual(38);
    expect((high ?? 0) - (none ?? 0)).toBeLessThanOrEqual(39);
    await client.destroy();
  });

  it("a small budget refuses the default-detail image but allows the low-detail one", async () => {
    const { client, vault } = await specClient({ budget: 10 });
    server.setBehaviour({ promptTokens: 1, completionTokens: 1 });
    const before = server.requests.length;
    const refused = await client.chat.completions.create(chatWith("auto")).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BudgetExceededError);
    expect((refused as BudgetExceededError).neededUsertokens).toBeGreaterThanOrEqual(39);
    expect(server.requests.length).toBe(before);
    const { receipt } = await client.chat.completions.create(chatWith("low"));
    expect(receipt.settled).toBe(true);
    expect(kinds(vault)).toEqual(["budget_exceeded", "spend"]);
    await client.destroy();
  });

  it("sizes a Responses API input_image the same way", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ promptTokens: 1, completionTokens: 1 });
    const ask = (detail: "low" | "high") =>
      client.responses.create({
        model: "gpt-4o",
        max_output_tokens: 16,
        input: [
          {
            role: "user",
            content: [
              { type: "input_text", text: "Describe this" },
              { type: "input_image", image_url: image, detail },
            ],
          },
        ],
      });
    await ask("low");
    await ask("high");
    const [low, high] = auditEvents(vault).map((event) => event.data.holdUsertokens as number);
    // (1,536 − 85) tokens × $2.50/M = 36.3 UT more for the high-detail image.
    expect((high ?? 0) - (low ?? 0)).toBeGreaterThanOrEqual(36);
    expect((high ?? 0) - (low ?? 0)).toBeLessThanOrEqual(37);
    await client.destroy();
  });
});

describe("outside the governed surface", () => {
  it("models.list() reaches the provider ungoverned: no hold, no receipt, no audit event", async () => {
    const { client, vault, receipts } = await specClient();
    const before = server.requests.length;
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(STAND_IN_MODELS);
    expect(server.requests.slice(before).map((request) => `${request.method} ${request.path}`)).toEqual([
      "GET /v1/models",
    ]);
    expect(receipts).toEqual([]);
    expect(auditEvents(vault)).toEqual([]);
    expect(await ledgerAfter(client, vault)).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });
});
