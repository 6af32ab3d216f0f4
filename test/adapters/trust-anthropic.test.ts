import { readFileSync } from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { BudgetExceededError } from "../../src/core/errors.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let server: AnthropicStandIn;
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  server = await startAnthropicStandIn();
});
afterAll(() => server.close());
afterEach(() => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function governedClient(budget = 100_000) {
  const vault = makeTempVault({ budget });
  cleanups.push(vault.cleanup);
  const client = await trust(new Anthropic({ baseURL: server.url, apiKey: "test", maxRetries: 0 }), {
    vaultBase: vault.base,
  });
  return { client, vault };
}

function eventKinds(path: string): string[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { kind: string }).kind);
}

const messages = [{ role: "user" as const, content: "Say hello" }];

// claude-sonnet-4-6 per million tokens: input $3, output $15, cache read $0.30, 5-minute cache
// write $3.75, 1-hour cache write $6. With 1,000 in, 500 out, 2,000 read, 600 + 400 written:
// 3,000 + 7,500 + 600 + 2,250 + 2,400 = 15,750 µ$ = 157.5 UT, rounded up to 158.
const CACHED_USAGE = {
  inputTokens: 1_000,
  outputTokens: 500,
  cacheReadInputTokens: 2_000,
  cacheCreation: { ephemeral5m: 600, ephemeral1h: 400 },
};
const CACHED_COST_UT = 158;

describe("trust() over the Anthropic SDK: messages.create", () => {
  it("prices input, output, cache reads and 5-minute and 1-hour cache writes each at their own rate", async () => {
    const { client, vault } = await governedClient();
    server.setBehaviour(CACHED_USAGE);
    const { response, receipt, governance } = await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 1024,
      system: [{ type: "text", text: "You are terse." }],
      messages,
    });
    expect(response.content[0]).toMatchObject({ type: "text", text: "Hello from the stand-in." });
    expect(governance).toBe(receipt);
    expect(receipt).toMatchObject({
      provider: "anthropic",
      settled: true,
      cost: CACHED_COST_UT,
      usageSource: "provider",
    });
    expect(receipt.usage).toEqual({
      inputTokens: 1_000,
      outputTokens: 500,
      cacheReadTokens: 2_000,
      cacheWriteTokens: 1_000,
      cacheWrite1hTokens: 400,
    });
    expect(eventKinds(vault.paths.auditLog)).toEqual(["spend"]);
    await client.destroy();
  });

  it("counts a stream's usage once although message_start and message_delta both report it", async () => {
    const { client, vault } = await governedClient();
    server.setBehaviour(CACHED_USAGE);
    const stream = await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 1024,
      messages,
      stream: true,
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types[0]).toBe("message_start");
    expect(types.at(-1)).toBe("message_stop");
    expect(await stream.receipt).toMatchObject({ cost: CACHED_COST_UT, usageSource: "provider" });
    expect(verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead }).ok).toBe(true);
    await client.destroy();
  });

  it("settles what was consumed when the stream ends in an error event, and surfaces the error", async () => {
    const { client } = await governedClient();
    server.setBehaviour({ reply: "a b c d e f", errorEventAfter: 2 });
    const { response, governance } = await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 1024,
      messages,
      stream: true,
    });
    await expect(async () => {
      for await (const _ of response) {
        // read until the error event
      }
    }).rejects.toBeInstanceOf(Anthropic.APIError);
    // message_start already reported the input side, so that part of the usage is the provider's.
    await expect(governance).resolves.toMatchObject({ settled: true });
    await client.destroy();
  });

  // Server-side compaction (beta): its step's tokens are billed but reported only in
  // usage.iterations, not in the top-level counts. claude-sonnet-4-6 ($3 in, $15 out per million),
  // compaction 180,000 in / 3,500 out, reply 23,000 in / 1,000 out:
  // (180,000 + 23,000) × $3 + (3,500 + 1,000) × $15 = 676,500 µ$ = 6,765 UT.
  it("charges a compaction step's tokens, which only usage.iterations reports (whole and streamed)", async () => {
    const { client } = await governedClient();
    server.setBehaviour({
      inputTokens: 23_000,
      outputTokens: 1_000,
      compaction: { inputTokens: 180_000, outputTokens: 3_500 },
    });
    const request = { model: "claude-sonnet-4-6", max_tokens: 100_000, messages };
    // A non-streaming call this long needs a timeout of the caller's (the SDK refuses it otherwise).
    const whole = await client.messages.create(request, { timeout: 1_200_000 });
    expect(whole.receipt).toMatchObject({
      cost: 6_765,
      usage: { inputTokens: 203_000, outputTokens: 4_500 },
    });
    const stream = await client.messages.create({ ...request, stream: true });
    for await (const _event of stream) {
      // read to the end
    }
    expect(await stream.receipt).toMatchObject({ cost: 6_765, usageSource: "provider" });
  });

  it("refuses a call whose hold does not fit before it reaches the provider", async () => {
    const { client, vault } = await governedClient(10);
    const before = server.requests.length;
    await expect(
      client.messages.create({ model: "claude-sonnet-4-6", max_tokens: 100_000, messages }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect(eventKinds(vault.paths.auditLog)).toEqual(["budget_exceeded"]);
    await client.destroy();
  });

  it("passes countTokens and other methods through untouched", async () => {
    const { client } = await governedClient();
    const counted = await client.messages.countTokens({ model: "claude-sonnet-4-6", messages });
    expect(counted.input_tokens).toBeGreaterThan(0);
    await client.destroy();
  });
});
