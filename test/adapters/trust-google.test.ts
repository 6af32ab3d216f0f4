import { existsSync } from "node:fs";
import {
  ApiError,
  type CallableTool,
  type FunctionCall,
  GenerateContentResponse,
  GoogleGenAI,
  type HttpRetryOptions,
  type Part,
} from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import type { AuditEvent } from "../../src/core/audit/audit-event.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { BudgetExceededError, ClientDestroyedError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { receiptOf, receiptsOf, withTrustContext } from "../../src/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let server: GoogleStandIn;
const cleanups: Array<() => void> = [];
const clients: Array<{ destroy(): Promise<void> }> = [];

beforeAll(async () => {
  server = await startGoogleStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  // destroy() is idempotent: this closes the clients of tests that failed before destroying theirs.
  await Promise.all(clients.splice(0).map((client) => client.destroy()));
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const model = "gemini-2.5-flash";
const contents = "Say hello.";
const BUDGET = 100_000;

type Vault = ReturnType<typeof makeTempVault>;

function googleClient(retryOptions?: HttpRetryOptions): GoogleGenAI {
  return new GoogleGenAI({
    apiKey: "test",
    httpOptions: { baseUrl: server.url, ...(retryOptions === undefined ? {} : { retryOptions }) },
  });
}

function tempVault(budget: number): Vault {
  const vault = makeTempVault({ budget });
  cleanups.push(vault.cleanup);
  return vault;
}

async function specClient(options: { budget?: number; retryOptions?: HttpRetryOptions } = {}) {
  const vault = tempVault(options.budget ?? BUDGET);
  const genai = googleClient(options.retryOptions);
  const client = await trust(genai, { vaultBase: vault.base });
  clients.push(client);
  return { client, vault, genai };
}

async function nativeClient(options: { budget?: number } = {}) {
  const vault = tempVault(options.budget ?? BUDGET);
  const receipts: TrustReceipt[] = [];
  const client = await trust(googleClient(), {
    vaultBase: vault.base,
    shape: "native",
    onReceipt: (receipt) => receipts.push(receipt),
  });
  clients.push(client);
  return { client, vault, receipts };
}

function auditEvents(vault: Vault): AuditEvent[] {
  return existsSync(vault.paths.auditLog) ? readAuditLog(vault.paths.auditLog) : [];
}

function kinds(vault: Vault): string[] {
  return auditEvents(vault).map((event) => event.kind);
}

/** The ledger's balance, read from the vault's SQLite file once the client is destroyed. */
async function ledgerBalance(vault: Vault, budget = BUDGET) {
  const ledger = new SqliteLedger({ path: vault.paths.ledger, budgetUsertokens: budget });
  try {
    return await ledger.balance();
  } finally {
    await ledger.close();
  }
}

/** `promise`, or a rejection naming what never resolved, so a hang fails fast instead of timing the file out. */
async function within<T>(promise: Promise<T>, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function textOf(chunks: GenerateContentResponse[]): string {
  return chunks.map((chunk) => chunk.text ?? "").join("");
}

/** A CallableTool (what `mcpToTool` builds) that answers every call with a fixed weather report. */
function weatherTool(calls: FunctionCall[][]): CallableTool {
  return {
    tool: async () => ({
      functionDeclarations: [
        {
          name: "get_weather",
          description: "The current weather in a city.",
          parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } },
        },
      ],
    }),
    callTool: async (functionCalls: FunctionCall[]): Promise<Part[]> => {
      calls.push(functionCalls);
      return functionCalls.map((call) => ({
        functionResponse: { name: call.name ?? "", response: { forecast: "sunny, 21 °C" } },
      }));
    },
  };
}

const WEATHER_CALL = { name: "get_weather", args: { city: "Paris" } };

// gemini-2.5-flash per million tokens (genai-prices; one flat rate, no tier above 200k tokens in the
// table, and every count here stays below 200k anyway): input $0.30, output $2.50, cache read $0.03.

// Gemini counts cached tokens inside promptTokenCount, bills thoughts as output and the results of
// its own tools as input. With prompt 100k (40k of it cached), tool-use prompt 10k, candidates 20k
// and thoughts 30k:
//   input  = 100,000 − 40,000 + 10,000 = 70,000 × $0.30/M = $0.0210  = 210 UT
//   output = 20,000 + 30,000           = 50,000 × $2.50/M = $0.1250  = 1,250 UT
//   cache read                          = 40,000 × $0.03/M = $0.0012  = 12 UT
//   total 1,472 UT.
const RICH_USAGE = {
  promptTokens: 100_000,
  cachedContentTokens: 40_000,
  toolUsePromptTokens: 10_000,
  candidatesTokens: 20_000,
  thoughtsTokens: 30_000,
};
const RICH_COST_UT = 1_472;
// The hold must cover that (the default 4,096 output tokens hold only ~103 UT): 100k output tokens hold 2,500 UT.
const RICH_CONFIG = { maxOutputTokens: 100_000 };

// Streams below: prompt 10,000 tokens (30 UT) and 5,000 output tokens (4,000 candidates + 1,000 thoughts,
// 125 UT) in the final snapshot = 155 UT. Summing the four cumulative snapshots instead would charge
// 4 × 30 + (1,000 + 2,000 + 3,000 + 4,000 + 4 × 1,000) × $2.50/M = 120 + 350 = 470 UT.
const STREAM_USAGE = {
  reply: "one two three four",
  promptTokens: 10_000,
  candidatesTokens: 4_000,
  thoughtsTokens: 1_000,
};
const STREAM_COST_UT = 155;
const STREAM_CONFIG = { maxOutputTokens: 10_000 };

// A small call: prompt 1,000 tokens ($0.0003) and 100 candidates ($0.00025) = $0.00055 = 5.5 UT, rounded up to 6.
const SMALL_USAGE = { promptTokens: 1_000, candidatesTokens: 100 };
const SMALL_COST_UT = 6;

describe("trust() over @google/genai: models.generateContent (spec shape)", () => {
  it("returns { response, receipt, governance } priced from cached, thoughts and tool-use token counts", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour(RICH_USAGE);
    const { response, receipt, governance } = await client.models.generateContent({
      model,
      contents,
      config: RICH_CONFIG,
    });
    expect(response).toBeInstanceOf(GenerateContentResponse);
    expect(response.text).toBe("Hello from the stand-in.");
    expect(governance).toBe(receipt);
    expect(receipt).toMatchObject({
      provider: "google",
      model,
      settled: true,
      cost: RICH_COST_UT,
      usageSource: "provider",
      budgetRemaining: BUDGET - RICH_COST_UT,
      chainPath: vault.paths.auditLog,
    });
    expect(receipt.usage).toEqual({
      inputTokens: 70_000,
      outputTokens: 50_000,
      cacheReadTokens: 40_000,
      cacheWriteTokens: 0,
    });
    expect(receipt.warnings).toEqual([expect.stringMatching(/^policy high-cost: /)]);
    expect((await receiptOf(response)).transferId).toBe(receipt.transferId);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    expect(events[0]).toMatchObject({ hash: receipt.auditHash, data: { costUsertokens: RICH_COST_UT } });
    expect(JSON.stringify(events[0])).not.toContain(contents);
    expect(verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead }).ok).toBe(true);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({
      postedUsertokens: RICH_COST_UT,
      pendingUsertokens: 0,
      remainingUsertokens: BUDGET - RICH_COST_UT,
    });
  });

  it("leaves the caller's own client ungoverned", async () => {
    const { client, vault, genai } = await specClient();
    const raw = await genai.models.generateContent({ model, contents });
    expect(raw.text).toBe("Hello from the stand-in.");
    expect(kinds(vault)).toEqual([]);
    await client.destroy();
  });
});

describe("trust() over @google/genai: models.generateContentStream", () => {
  it("counts the cumulative usageMetadata on every chunk once: the final snapshot's cost", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour(STREAM_USAGE);
    const stream = await client.models.generateContentStream({ model, contents, config: STREAM_CONFIG });
    const chunks: GenerateContentResponse[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toHaveLength(4);
    expect(chunks.every((chunk) => chunk instanceof GenerateContentResponse)).toBe(true);
    expect(chunks.every((chunk) => chunk.usageMetadata !== undefined)).toBe(true);
    expect(textOf(chunks)).toBe("one two three four");
    const receipt = await stream.receipt;
    expect(await stream.governance).toBe(receipt);
    expect(receipt).toMatchObject({ cost: STREAM_COST_UT, usageSource: "provider", settled: true });
    expect(receipt.usage).toEqual({
      inputTokens: 10_000,
      outputTokens: 5_000,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    expect(kinds(vault)).toEqual(["spend"]);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({
      postedUsertokens: STREAM_COST_UT,
      pendingUsertokens: 0,
    });
  });

  it("settles at the same cost when only the last chunk carries usageMetadata", async () => {
    const { client } = await specClient();
    server.setBehaviour({ ...STREAM_USAGE, streamUsage: "last" });
    const { response, governance } = await client.models.generateContentStream({
      model,
      contents,
      config: STREAM_CONFIG,
    });
    const chunks: GenerateContentResponse[] = [];
    for await (const chunk of response) chunks.push(chunk);
    expect(chunks.map((chunk) => chunk.usageMetadata !== undefined)).toEqual([false, false, false, true]);
    await expect(governance).resolves.toMatchObject({ cost: STREAM_COST_UT, usageSource: "provider" });
    await client.destroy();
  });

  it("settles at the usage reported so far when the consumer breaks early", async () => {
    const { client, vault } = await specClient();
    // Eight words, 8,000 candidates: after two chunks the running count is 2,000 (50 UT), plus the
    // 10,000-token prompt (30 UT) = 80 UT.
    server.setBehaviour({ reply: "a b c d e f g h", promptTokens: 10_000, candidatesTokens: 8_000 });
    const before = server.requests.length;
    const stream = await client.models.generateContentStream({ model, contents, config: STREAM_CONFIG });
    let seen = 0;
    for await (const _ of stream) if (++seen === 2) break;
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject({ settled: true, usageSource: "provider", cost: 80 });
    expect(receipt.usage).toMatchObject({ inputTokens: 10_000, outputTokens: 2_000 });
    expect(server.requests.length - before).toBe(1);
    expect(kinds(vault)).toEqual(["spend"]);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({ postedUsertokens: 80, pendingUsertokens: 0 });
  });

  it("settles on an estimate when the consumer breaks before any usage arrived", async () => {
    const { client } = await specClient();
    server.setBehaviour({ reply: "a b c d e f g h", streamUsage: "last" });
    const stream = await client.models.generateContentStream({ model, contents });
    let seen = 0;
    for await (const _ of stream) if (++seen === 2) break;
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    expect(receipt.cost).toBeGreaterThan(0);
    // "a b " is 4 bytes received: output is estimated from what arrived, not from the hold.
    expect(receipt.usage.outputTokens).toBeLessThan(10);
    await client.destroy();
  });

  it("settles what was consumed when the connection drops mid-stream, and surfaces the error", async () => {
    const { client, vault } = await specClient();
    // Six words, 6,000 candidates: the socket dies after two chunks, whose running count is 2,000
    // (50 UT), plus the 10,000-token prompt (30 UT) = 80 UT.
    server.setBehaviour({
      reply: "a b c d e f",
      promptTokens: 10_000,
      candidatesTokens: 6_000,
      failAfterChunks: 2,
      chunkDelayMs: 1,
    });
    const stream = await client.models.generateContentStream({ model, contents, config: STREAM_CONFIG });
    const received: string[] = [];
    await expect(async () => {
      for await (const chunk of stream) received.push(chunk.text ?? "");
    }).rejects.toThrow();
    expect(received).toEqual(["a ", "b "]);
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject({ settled: true, usageSource: "provider", cost: 80 });
    expect(kinds(vault)).toEqual(["spend"]);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({ postedUsertokens: 80, pendingUsertokens: 0 });
  });

  it("settles on an estimate (usageSource 'estimated') when the stream reports no usage", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ omitUsage: true });
    const stream = await client.models.generateContentStream({ model, contents });
    const chunks: GenerateContentResponse[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(textOf(chunks)).toBe("Hello from the stand-in.");
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    // The 24 bytes of text received, about 3 bytes a token: far below the 4,096 tokens held.
    expect(receipt.usage.outputTokens).toBeGreaterThan(0);
    expect(receipt.usage.outputTokens).toBeLessThan(20);
    expect(receipt.usage.inputTokens).toBeGreaterThan(0);
    expect(receipt.cost).toBeGreaterThan(0);
    expect(auditEvents(vault)[0]).toMatchObject({ kind: "spend", data: { usageSource: "estimated" } });
    await client.destroy();
  });
});

describe("trust() over @google/genai: models.embedContent", () => {
  it("settles at the prompt estimate, since the Gemini API reports no tokens for embeddings", async () => {
    const { client, vault } = await specClient();
    const text = "x".repeat(300_000);
    const { response, receipt } = await client.models.embedContent({
      model: "gemini-embedding-001",
      contents: text,
    });
    expect(response.embeddings).toHaveLength(1);
    expect(server.requests.at(-1)?.path).toBe("/v1/models/gemini-embedding-001:batchEmbedContents");
    // gemini-embedding-001: $0.15 per million input tokens, no output. The prompt estimate is
    // 300,000 bytes / 3 + 4 per part = 100,004 tokens × $0.15/M = $0.0150006 = 150.006 UT → 151.
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated", cost: 151 });
    expect(receipt.usage).toEqual({
      inputTokens: 100_004,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    // Nothing is held for output, so the estimate settles at exactly the hold.
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    expect(events[0]?.data).toMatchObject({ holdUsertokens: 151, costUsertokens: 151 });
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({ postedUsertokens: 151, pendingUsertokens: 0 });
  });
});

describe("trust() over @google/genai: chats", () => {
  it("governs chat.sendMessage: one spend per turn, and receiptOf answers for each response", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour(SMALL_USAGE);
    const chat = client.chats.create({ model });
    const first = await chat.sendMessage({ message: "Hi." });
    const second = await chat.sendMessage({ message: "Again." });
    expect(first).toBeInstanceOf(GenerateContentResponse);
    expect(second.text).toBe("Hello from the stand-in.");
    expect(chat.getHistory()).toHaveLength(4);
    const firstReceipt = await receiptOf(first);
    const secondReceipt = await receiptOf(second);
    expect(firstReceipt).toMatchObject({ settled: true, cost: SMALL_COST_UT, usageSource: "provider" });
    expect(secondReceipt).toMatchObject({ settled: true, cost: SMALL_COST_UT, usageSource: "provider" });
    expect(secondReceipt.transferId).not.toBe(firstReceipt.transferId);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend", "spend"]);
    expect(events.map((event) => event.data.transferId)).toEqual([
      firstReceipt.transferId,
      secondReceipt.transferId,
    ]);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({
      postedUsertokens: 2 * SMALL_COST_UT,
      pendingUsertokens: 0,
    });
  });

  it("governs chat.sendMessageStream, and receiptOf answers for the stream it returns", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour(SMALL_USAGE);
    const chat = client.chats.create({ model });
    const stream = await chat.sendMessageStream({ message: "Hi." });
    const chunks: GenerateContentResponse[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(textOf(chunks)).toBe("Hello from the stand-in.");
    expect(chat.getHistory()[0]).toMatchObject({ role: "user", parts: [{ text: "Hi." }] });
    expect(kinds(vault)).toEqual(["spend"]);
    const spent = auditEvents(vault)[0]?.data;
    expect(spent).toMatchObject({ costUsertokens: SMALL_COST_UT, usageSource: "provider" });
    await expect(within(receiptOf(stream))).resolves.toMatchObject({
      settled: true,
      cost: SMALL_COST_UT,
      transferId: spent?.transferId,
    });
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({
      postedUsertokens: SMALL_COST_UT,
      pendingUsertokens: 0,
    });
  });
});

describe("trust() over @google/genai: calls that make several requests", () => {
  it("gives each automatic-function-calling request its own hold; receiptsOf lists both (native)", async () => {
    const { client, vault, receipts } = await nativeClient();
    server.setBehaviour({ ...SMALL_USAGE, functionCall: WEATHER_CALL });
    const calls: FunctionCall[][] = [];
    const before = server.requests.length;
    const result = await client.models.generateContent({
      model,
      contents: "What is the weather in Paris?",
      config: { tools: [weatherTool(calls)] },
    });
    expect(result).toBeInstanceOf(GenerateContentResponse);
    expect(result.text).toBe("Hello from the stand-in.");
    expect(calls).toEqual([[WEATHER_CALL]]);
    const sent = server.requests.slice(before);
    expect(sent).toHaveLength(2);
    expect(JSON.stringify(sent[1]?.body)).toContain('"functionResponse"');

    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend", "spend"]);
    expect(new Set(events.map((event) => event.data.transferId)).size).toBe(2);
    const trail = await receiptsOf(result);
    expect(trail).toHaveLength(2);
    expect(trail.map((receipt) => receipt.transferId)).toEqual(events.map((event) => event.data.transferId));
    expect(trail.every((receipt) => receipt.settled && receipt.cost === SMALL_COST_UT)).toBe(true);
    expect((await receiptOf(result)).transferId).toBe(trail[1]?.transferId);
    expect(receipts.map((receipt) => receipt.transferId)).toEqual(trail.map((receipt) => receipt.transferId));
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({
      postedUsertokens: 2 * SMALL_COST_UT,
      pendingUsertokens: 0,
    });
  });

  it("governs both requests of an automatic-function-calling stream", async () => {
    const { client, vault } = await nativeClient();
    server.setBehaviour({ ...SMALL_USAGE, functionCall: WEATHER_CALL });
    const calls: FunctionCall[][] = [];
    const stream = await client.models.generateContentStream({
      model,
      contents: "What is the weather in Paris?",
      config: { tools: [weatherTool(calls)] },
    });
    const chunks: GenerateContentResponse[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(calls).toEqual([[WEATHER_CALL]]);
    expect(chunks.at(-1)?.text).toBe("stand-in.");
    expect(kinds(vault)).toEqual(["spend", "spend"]);
    const trail = await within(receiptsOf(stream));
    expect(trail).toHaveLength(2);
    expect(trail.every((receipt) => receipt.settled && receipt.cost === SMALL_COST_UT)).toBe(true);
    await client.destroy();
  });

  it("keeps the caller's context for every request of a stream read outside withTrustContext", async () => {
    const { client, vault } = await nativeClient();
    server.setBehaviour({ ...SMALL_USAGE, functionCall: WEATHER_CALL });
    const calls: FunctionCall[][] = [];
    // Opened inside the context, read after it returned: the second request starts while reading.
    const stream = await withTrustContext({ scope: "team-a/weather-bot", actor: "agent-7" }, () =>
      client.models.generateContentStream({
        model,
        contents: "What is the weather in Paris?",
        config: { tools: [weatherTool(calls)] },
      }),
    );
    for await (const _chunk of stream) {
      // read to the end
    }
    const spends = auditEvents(vault).filter((event) => event.kind === "spend");
    expect(spends).toHaveLength(2);
    for (const spend of spends) {
      expect(spend.actor).toBe("agent-7");
      expect(spend.data.scope).toEqual(["team-a/weather-bot"]);
    }
    await client.destroy();
  });

  it("in the spec shape, an automatic-function-calling stream's receipt resolves", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ ...SMALL_USAGE, functionCall: WEATHER_CALL });
    const stream = await client.models.generateContentStream({
      model,
      contents: "What is the weather in Paris?",
      config: { tools: [weatherTool([])] },
    });
    for await (const _ of stream) {
      // drain both rounds
    }
    expect(kinds(vault)).toEqual(["spend", "spend"]);
    const receipt = await within(stream.receipt);
    expect(receipt).toMatchObject({ settled: true, cost: SMALL_COST_UT });
    expect(receipt.transferId).toBe(auditEvents(vault)[1]?.data.transferId);
    await client.destroy();
  });

  it("an automatic-function-calling stream never read: destroy() ends its receipt, which has no call to report", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ ...SMALL_USAGE, functionCall: WEATHER_CALL });
    const before = server.requests.length;
    // The SDK opens this stream's request only when it is first read, so nothing is held yet.
    const stream = await client.models.generateContentStream({
      model,
      contents: "What is the weather in Paris?",
      config: { tools: [weatherTool([])] },
    });
    await client.destroy();
    await expect(within(stream.receipt)).rejects.toBeInstanceOf(ClientDestroyedError);
    expect(server.requests.length).toBe(before);
    expect(kinds(vault)).toEqual([]);
  });

  it("gives each automatic-continuation hop its own hold", async () => {
    const { client, vault } = await nativeClient();
    server.setBehaviour({ ...SMALL_USAGE, continuationHops: 1 });
    const before = server.requests.length;
    const result = await client.models.generateContent({ model, contents });
    const sent = server.requests.slice(before);
    expect(sent).toHaveLength(2);
    expect(sent[1]?.body).toMatchObject({ continuationToken: "standin-hop-1" });
    expect(result.text).toBe("Hello from the stand-in.Hello from the stand-in.");
    expect(kinds(vault)).toEqual(["spend", "spend"]);
    const trail = await receiptsOf(result);
    expect(trail).toHaveLength(2);
    expect(trail.every((receipt) => receipt.settled && receipt.cost === SMALL_COST_UT)).toBe(true);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({ postedUsertokens: 2 * SMALL_COST_UT });
  });

  it("gives each hop of a continued stream its own hold", async () => {
    const { client, vault } = await nativeClient();
    server.setBehaviour({ ...SMALL_USAGE, continuationHops: 1 });
    const stream = await client.models.generateContentStream({ model, contents });
    const chunks: GenerateContentResponse[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(textOf(chunks)).toBe("Hello from the stand-in.Hello from the stand-in.");
    expect(kinds(vault)).toEqual(["spend", "spend"]);
    const trail = await within(receiptsOf(stream));
    expect(trail.map((receipt) => receipt.cost)).toEqual([SMALL_COST_UT, SMALL_COST_UT]);
    await client.destroy();
  });

  it("in the spec shape, an automatic-function-calling call's receipt is its last request's", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ ...SMALL_USAGE, functionCall: WEATHER_CALL });
    const { response, receipt } = await client.models.generateContent({
      model,
      contents: "What is the weather in Paris?",
      config: { tools: [weatherTool([])] },
    });
    expect(response.text).toBe("Hello from the stand-in.");
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend", "spend"]);
    expect(receipt.transferId).toBe(events[1]?.data.transferId);
    expect(receipt).toMatchObject({ settled: true, cost: SMALL_COST_UT });
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({
      postedUsertokens: 2 * SMALL_COST_UT,
      pendingUsertokens: 0,
    });
  });
});

describe("trust() over @google/genai: shape 'native'", () => {
  it("returns the SDK's own GenerateContentResponse, with receiptOf and onReceipt", async () => {
    const { client, vault, receipts } = await nativeClient();
    server.setBehaviour(RICH_USAGE);
    const response = await client.models.generateContent({ model, contents, config: RICH_CONFIG });
    expect(response).toBeInstanceOf(GenerateContentResponse);
    expect(response.text).toBe("Hello from the stand-in.");
    const receipt = await receiptOf(response);
    expect(receipt).toMatchObject({ settled: true, cost: RICH_COST_UT, usageSource: "provider" });
    expect(receipts).toEqual([receipt]);
    expect(kinds(vault)).toEqual(["spend"]);
    await client.destroy();
  });

  it("returns an async-iterable stream of the SDK's chunks, with receiptOf and onReceipt", async () => {
    const { client, receipts } = await nativeClient();
    server.setBehaviour(STREAM_USAGE);
    const stream = await client.models.generateContentStream({ model, contents, config: STREAM_CONFIG });
    expect(typeof stream[Symbol.asyncIterator]).toBe("function");
    const chunks: GenerateContentResponse[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((chunk) => chunk instanceof GenerateContentResponse)).toBe(true);
    const receipt = await receiptOf(stream);
    expect(receipt).toMatchObject({ settled: true, cost: STREAM_COST_UT });
    expect(receipts.map((r) => r.transferId)).toEqual([receipt.transferId]);
    await client.destroy();
  });

  it("refuses a call that does not fit the budget before anything reaches the provider", async () => {
    const { client, vault, receipts } = await nativeClient({ budget: 1 });
    const before = server.requests.length;
    await expect(client.models.generateContent({ model, contents })).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    await expect(client.models.generateContentStream({ model, contents })).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    expect(server.requests.length).toBe(before);
    expect(kinds(vault)).toEqual(["budget_exceeded", "budget_exceeded"]);
    expect(receipts).toEqual([]);
    await client.destroy();
    expect(await ledgerBalance(vault, 1)).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });
});

describe("trust() over @google/genai: failures", () => {
  const retryOptions: HttpRetryOptions = { attempts: 3, initialDelay: 0.001, maxDelay: 0.001, jitter: 0 };

  it.each([429, 503])(
    "treats the SDK's retries after %i as one call: one hold, settled once",
    async (status) => {
      const { client, vault } = await specClient({ retryOptions });
      server.setBehaviour({ ...SMALL_USAGE, failStatus: { status, times: 2 } });
      const before = server.requests.length;
      const { response, receipt } = await client.models.generateContent({ model, contents });
      expect(response.text).toBe("Hello from the stand-in.");
      expect(server.requests.length - before).toBe(3);
      expect(receipt).toMatchObject({ settled: true, cost: SMALL_COST_UT });
      expect(kinds(vault)).toEqual(["spend"]);
      await client.destroy();
      expect(await ledgerBalance(vault)).toMatchObject({
        postedUsertokens: SMALL_COST_UT,
        pendingUsertokens: 0,
      });
    },
  );

  it("voids the hold and restores the budget when the retries are exhausted", async () => {
    const { client, vault } = await specClient({ retryOptions });
    server.setBehaviour({ failStatus: { status: 503, times: 3 } });
    const before = server.requests.length;
    const error = await client.models.generateContent({ model, contents }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(503);
    expect(server.requests.length - before).toBe(3);
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["call_failed"]);
    expect(events[0]?.data.holdUsertokens).toBeGreaterThan(0);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({
      postedUsertokens: 0,
      pendingUsertokens: 0,
      remainingUsertokens: BUDGET,
    });
  });

  it("voids a stream's hold when the stream is refused before its first chunk", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ failStatus: { status: 429, times: 1 } });
    await expect(client.models.generateContentStream({ model, contents })).rejects.toBeInstanceOf(ApiError);
    expect(kinds(vault)).toEqual(["call_failed"]);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });

  it("releases the hold when config.abortSignal aborts before the response", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ delayMs: 2_000 });
    const abort = new AbortController();
    const pending = client.models.generateContent({ model, contents, config: { abortSignal: abort.signal } });
    setTimeout(() => abort.abort(), 20);
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe("AbortError");
    expect(kinds(vault)).toEqual(["call_failed"]);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({
      postedUsertokens: 0,
      pendingUsertokens: 0,
      remainingUsertokens: BUDGET,
    });
  });
});

describe("trust() over @google/genai: hold sizing", () => {
  /** The hold each call took, from its spend event. */
  async function holdOf(config: Record<string, unknown>, callContents: unknown = contents): Promise<number> {
    const { client, vault } = await specClient({ budget: 1_000_000 });
    await client.models.generateContent({ model, contents: callContents as string, config });
    await client.destroy();
    const [event] = auditEvents(vault);
    expect(event?.kind).toBe("spend");
    return event?.data.holdUsertokens as number;
  }

  it("holds more for a system instruction, tools, inline image data and a larger maxOutputTokens", async () => {
    const base = await holdOf({});
    // The default 4,096 output tokens at $2.50/M are 102.4 UT; the 10-byte prompt adds a fraction.
    expect(base).toBeGreaterThanOrEqual(103);
    expect(base).toBeLessThan(110);

    const withSystem = await holdOf({ systemInstruction: "Answer in the voice of a pirate. ".repeat(1_000) });
    // 33,000 bytes of instruction are at least 8,250 tokens (4 bytes a token) × $0.30/M ≈ 24.75 UT more.
    expect(withSystem - base).toBeGreaterThanOrEqual(25);

    const tools = [
      {
        functionDeclarations: [
          {
            name: "lookup",
            description: "Looks a term up in the company glossary. ".repeat(300),
            parametersJsonSchema: { type: "object", properties: { term: { type: "string" } } },
          },
        ],
      },
    ];
    const withTools = await holdOf({ tools });
    // 12,300 bytes of declarations: at least 3,075 tokens × $0.30/M ≈ 9.2 UT more.
    expect(withTools - base).toBeGreaterThanOrEqual(9);

    const image = {
      inlineData: { mimeType: "image/png", data: Buffer.from("not really a png").toString("base64") },
    };
    const withImage = await holdOf({}, [{ role: "user", parts: [{ text: contents }, image] }]);
    // An image is up to 1,120 tokens on Gemini 3 at high resolution: × $0.30/M = 3.36 UT more.
    expect(withImage - base).toBeGreaterThanOrEqual(3);

    const withMaxOutput = await holdOf({ maxOutputTokens: 100_000 });
    // 100,000 output tokens × $2.50/M = 2,500 UT.
    expect(withMaxOutput).toBeGreaterThanOrEqual(2_500);
    expect(withMaxOutput).toBeLessThan(2_510);
  });
});

describe("trust() over @google/genai: everything else", () => {
  it("passes models.countTokens through ungoverned", async () => {
    const { client, vault } = await specClient();
    server.setBehaviour({ promptTokens: 42 });
    const counted = await client.models.countTokens({ model, contents });
    expect(counted.totalTokens).toBe(42);
    expect(server.requests.at(-1)?.path).toBe(`/v1/models/${model}:countTokens`);
    expect(kinds(vault)).toEqual([]);
    await client.destroy();
    expect(await ledgerBalance(vault)).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
  });
});
