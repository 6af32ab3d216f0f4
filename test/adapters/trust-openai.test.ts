import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { BudgetExceededError, ClientDestroyedError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let server: OpenAIStandIn;
const vaults: Array<() => void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(() => {
  server.setBehaviour({});
  for (const cleanup of vaults.splice(0)) cleanup();
});

async function governedClient(budget = 100_000) {
  const vault = makeTempVault({ budget });
  vaults.push(vault.cleanup);
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
  const client = await trust(openai, { vaultBase: vault.base });
  return { client, vault, openai };
}

function auditEvents(path: string): Array<{ kind: string; data: Record<string, unknown> }> {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

const hello = [{ role: "user" as const, content: "Say hello" }];

describe("trust() over the OpenAI SDK: chat.completions.create", () => {
  it("returns the response with a receipt priced from the provider's usage", async () => {
    const { client, vault } = await governedClient();
    server.setBehaviour({ promptTokens: 1_000_000, completionTokens: 1_000_000 });
    const { response, governance, receipt } = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      max_tokens: 2_000_000,
    });
    expect(response.choices[0]?.message.content).toBe("Hello from the stand-in.");
    // gpt-4o-mini: $0.15 + $0.60 per million input/output tokens = $0.75 = 7,500 UT.
    expect(receipt.cost).toBe(7_500);
    expect(governance).toBe(receipt);
    expect(receipt).toMatchObject({
      settled: true,
      model: "gpt-4o-mini",
      provider: "openai",
      usageSource: "provider",
      receiptUrl: null,
      budgetRemaining: 100_000 - 7_500,
      chainPath: vault.paths.auditLog,
    });
    expect(receipt.transferId).toMatch(/^tx_/);
    const events = auditEvents(vault.paths.auditLog);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "spend", hash: receipt.auditHash });
    expect(JSON.stringify(events[0])).not.toContain("Say hello");
    await client.destroy();
  });

  it("prices cached prompt tokens at the cache-read rate, not again as input", async () => {
    const { client } = await governedClient();
    server.setBehaviour({ promptTokens: 1_000_000, cachedTokens: 600_000, completionTokens: 0 });
    const { receipt } = await client.chat.completions.create({
      model: "gpt-4o",
      messages: hello,
      max_tokens: 10,
    });
    // gpt-4o: 400k input × $2.50/M + 600k cached × $1.25/M = $1.00 + $0.75 = 17,500 UT.
    expect(receipt.cost).toBe(17_500);
    expect(receipt.usage).toEqual({
      inputTokens: 400_000,
      outputTokens: 0,
      cacheReadTokens: 600_000,
      cacheWriteTokens: 0,
    });
    await client.destroy();
  });

  it("refuses a call whose hold exceeds the budget before it reaches the provider", async () => {
    const { client, vault } = await governedClient(5);
    const before = server.requests.length;
    await expect(
      client.chat.completions.create({ model: "gpt-4o", messages: hello, max_tokens: 100_000 }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(auditEvents(vault.paths.auditLog).map((e) => e.kind)).toEqual(["budget_exceeded"]);
    await client.destroy();
  });

  it("holds the output of every one of n choices, with or without max_tokens", async () => {
    const { client, vault } = await governedClient(5);
    for (const n of [1, 8]) {
      await expect(
        client.chat.completions.create({ model: "gpt-4o-mini", messages: hello, n }),
      ).rejects.toBeInstanceOf(BudgetExceededError);
    }
    const needed = auditEvents(vault.paths.auditLog).map((e) => e.data.neededUsertokens as number);
    // 4,096 default output tokens at $0.60/M ≈ 25 UT per choice; eight choices ≈ 197 UT.
    expect(needed[0]).toBe(25);
    expect(needed[1]).toBe(197);
    await client.destroy();
  });

  it("voids the hold and rethrows the SDK's error when the provider fails", async () => {
    const { client, vault } = await governedClient();
    server.setBehaviour({ failStatus: { status: 500, times: 1 } });
    await expect(
      client.chat.completions.create({ model: "gpt-4o-mini", messages: hello }),
    ).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const events = auditEvents(vault.paths.auditLog);
    expect(events.map((e) => e.kind)).toEqual(["call_failed"]);
    await client.destroy();
    const ledger = new SqliteLedger({ path: vault.paths.ledger, budgetUsertokens: 100_000 });
    expect(await ledger.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
    await ledger.close();
  });

  it("treats the SDK's own retries as one logical call: one hold, settled once", async () => {
    const { client, vault, openai } = await governedClient();
    const retrying = await trust(openai.withOptions({ maxRetries: 2 }), { vaultBase: vault.base });
    server.setBehaviour({ failStatus: { status: 429, times: 1, retryAfterMs: 1 } });
    const before = server.requests.length;
    const { receipt } = await retrying.chat.completions.create({ model: "gpt-4o-mini", messages: hello });
    expect(server.requests.length - before).toBe(2);
    expect(receipt.settled).toBe(true);
    expect(auditEvents(vault.paths.auditLog).map((e) => e.kind)).toEqual(["spend"]);
    await retrying.destroy();
    await client.destroy();
  });

  it("voids the hold when the caller aborts the request", async () => {
    const { client, vault } = await governedClient();
    server.setBehaviour({ delayMs: 500 });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 20);
    await expect(
      client.chat.completions.create({ model: "gpt-4o-mini", messages: hello }, { signal: abort.signal }),
    ).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    const events = auditEvents(vault.paths.auditLog);
    expect(events.map((e) => e.kind)).toEqual(["call_failed"]);
    await client.destroy();
  });

  it("keeps every other client method working untouched", async () => {
    const { client, openai } = await governedClient();
    expect(client.baseURL).toBe(openai.baseURL);
    expect(typeof client.chat.completions.parse).toBe("function");
    const raw = await client.chat.completions.create({ model: "gpt-4o-mini", messages: hello });
    expect(raw.response.id).toMatch(/^chatcmpl-/);
    expect(client.withOptions({ timeout: 5 })).toBeInstanceOf(OpenAI);
    await client.destroy();
  });

  it("destroy is idempotent and governed calls after it reject clearly", async () => {
    const { client } = await governedClient();
    await client.destroy();
    await client.destroy();
    await expect(
      client.chat.completions.create({ model: "gpt-4o-mini", messages: hello }),
    ).rejects.toBeInstanceOf(ClientDestroyedError);
  });
});

describe("trust() over the OpenAI SDK: embeddings.create", () => {
  it("holds only the input and settles at the reported prompt tokens", async () => {
    const { client, vault } = await governedClient();
    server.setBehaviour({ promptTokens: 1_000_000 });
    const { response, receipt } = await client.embeddings.create({
      model: "text-embedding-3-small",
      input: ["first text", "second text"],
      encoding_format: "float",
    });
    expect(response.data).toHaveLength(2);
    // text-embedding-3-small: $0.02 per million input tokens = 200 UT; embeddings have no output.
    expect(receipt).toMatchObject({ cost: 200, settled: true, usageSource: "provider" });
    expect(receipt.usage).toEqual({
      inputTokens: 1_000_000,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    expect(auditEvents(vault.paths.auditLog).map((e) => e.kind)).toEqual(["spend"]);
    await client.destroy();
  });

  it("refuses an embedding call that does not fit before it reaches the provider", async () => {
    const { client } = await governedClient(1);
    const before = server.requests.length;
    await expect(
      client.embeddings.create({ model: "text-embedding-3-large", input: "x".repeat(200_000) }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    await client.destroy();
  });
});

describe("trust() over the OpenAI SDK: streaming", () => {
  it("asks for usage, hides the usage chunk the caller did not ask for, and settles at the reported usage", async () => {
    const { client, vault } = await governedClient();
    server.setBehaviour({ reply: "one two three", promptTokens: 100_000, completionTokens: 10_000 });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      stream: true,
    });
    const chunks: unknown[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => (c as { choices: unknown[] }).choices.length > 0)).toBe(true);
    const sent = server.requests.at(-1)?.body as { stream_options?: { include_usage?: boolean } };
    expect(sent.stream_options?.include_usage).toBe(true);
    const receipt = await stream.receipt;
    // 100k × $0.15/M + 10k × $0.60/M = $0.015 + $0.006 = 210 UT.
    expect(receipt).toMatchObject({ cost: 210, usageSource: "provider", settled: true });
    expect(await stream.governance).toBe(receipt);
    expect(verifyChain(vault.paths.auditLog).ok).toBe(true);
    await client.destroy();
  });

  it("passes the usage chunk through when the caller asked for it", async () => {
    const { client } = await governedClient();
    const { response, governance } = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: Array<{ choices: unknown[]; usage?: unknown }> = [];
    for await (const chunk of response) chunks.push(chunk);
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage).toBeTruthy();
    expect((await governance).usageSource).toBe("provider");
    await client.destroy();
  });

  it("settles on an estimate of what was consumed when the consumer breaks early", async () => {
    const { client } = await governedClient();
    server.setBehaviour({ reply: "a b c d e f g h i j k l m n o p", completionTokens: 1_000_000 });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      stream: true,
    });
    let seen = 0;
    for await (const _ of stream) if (++seen === 3) break;
    const receipt = await stream.receipt;
    expect(receipt.settled).toBe(true);
    expect(receipt.usageSource).toBe("estimated");
    expect(receipt.usage.outputTokens).toBeLessThan(10);
    await client.destroy();
  });

  it("settles at what was consumed when the stream fails mid-way, and surfaces the error", async () => {
    const { client } = await governedClient();
    server.setBehaviour({ reply: "a b c d e f", failAfterChunks: 2 });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      stream: true,
    });
    await expect(async () => {
      for await (const _ of stream) {
        // consume until the server drops the connection
      }
    }).rejects.toThrow();
    const receipt = await stream.receipt;
    expect(receipt).toMatchObject({ settled: true, usageSource: "estimated" });
    await client.destroy();
  });

  it("uses the latest cumulative usage snapshot instead of summing them", async () => {
    const { client } = await governedClient();
    server.setBehaviour({
      reply: "w1 w2 w3 w4",
      cumulativeUsage: true,
      promptTokens: 1_000_000,
      completionTokens: 0,
    });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      stream: true,
    });
    for await (const _ of stream) {
      // drain
    }
    expect((await stream.receipt).cost).toBe(1_500);
    await client.destroy();
  });

  it("settles what was consumed when the caller aborts the stream through its controller", async () => {
    const { client } = await governedClient();
    server.setBehaviour({ reply: "a b c d e f g h", chunkDelayMs: 5 });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      stream: true,
    });
    let seen = 0;
    // The SDK ends an aborted stream quietly; the loop simply stops.
    for await (const _ of stream) if (++seen === 2) stream.controller?.abort();
    expect(seen).toBeLessThan(8);
    await expect(stream.receipt).resolves.toMatchObject({ settled: true, usageSource: "estimated" });
    await client.destroy();
  });

  it("settles when the iterator is closed before its first chunk", async () => {
    const { client } = await governedClient();
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      stream: true,
    });
    await stream[Symbol.asyncIterator]().return?.();
    await expect(stream.receipt).resolves.toMatchObject({ settled: true, usageSource: "estimated" });
    await client.destroy();
  });

  it("settles an unread stream's hold on destroy at the prompt estimate, so its receipt resolves", async () => {
    const { client } = await governedClient();
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: hello,
      stream: true,
    });
    await client.destroy();
    await expect(stream.receipt).resolves.toMatchObject({
      settled: true,
      usageSource: "estimated",
      usage: { outputTokens: 0 },
    });
  });
});
