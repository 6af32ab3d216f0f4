import { ChatAnthropic } from "@langchain/anthropic";
import type { AIMessage } from "@langchain/core/messages";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { governedChatModel, UsertrustCallbackHandler } from "../../src/middleware/langchain/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * Anthropic bills 1-hour prompt-cache writes at 2x the base input price, 5-minute writes at 1.25x
 * (https://docs.claude.com/en/docs/build-with-claude/prompt-caching#pricing), and reports the split
 * in usage.cache_creation.ephemeral_5m_input_tokens / ephemeral_1h_input_tokens, which LangChain's
 * usage_metadata does not keep. trust() and the AI SDK middleware price this usage at 158 UT too.
 *
 * claude-sonnet-4-6: 1,000 in × $3 + 500 out × $15 + 2,000 read × $0.30 + 600 × $3.75 (5m writes)
 * + 400 × $6 (1h writes), per million = 15,750 µ$ = 157.5 UT → 158.
 * (All 1,000 writes at $3.75 would be 14,850 µ$ → 149 UT.)
 */

const CACHED = {
  inputTokens: 1_000,
  outputTokens: 500,
  cacheReadInputTokens: 2_000,
  cacheCreation: { ephemeral5m: 600, ephemeral1h: 400 },
};
const EXPECTED_UT = 158;

let anthropic: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  anthropic = await startAnthropicStandIn();
});
afterAll(() => anthropic.close());
afterEach(async () => {
  anthropic.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function engineOn(): Promise<Engine> {
  const vault = makeTempVault({ budget: 100_000 });
  cleanups.push(vault.cleanup);
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(() => engine.close());
  return engine;
}

function chatAnthropic(): ChatAnthropic {
  return new ChatAnthropic({
    model: "claude-sonnet-4-6",
    apiKey: "test",
    anthropicApiUrl: anthropic.url,
    maxRetries: 0,
    maxTokens: 10_000,
  });
}

const receiptOn = (message: { response_metadata?: Record<string, unknown> }) =>
  message.response_metadata?.usertrust as TrustReceipt | undefined;

describe("usertrust/langchain over ChatAnthropic: 1-hour cache writes", () => {
  it("governedChatModel.invoke prices 1-hour cache writes at the 1-hour rate", async () => {
    const engine = await engineOn();
    anthropic.setBehaviour(CACHED);
    const message = await governedChatModel(chatAnthropic(), engine).invoke("Say hello");
    expect(receiptOn(message)?.cost).toBe(EXPECTED_UT);
  });

  it("governedChatModel.stream prices 1-hour cache writes at the 1-hour rate", async () => {
    const engine = await engineOn();
    anthropic.setBehaviour(CACHED);
    let last: TrustReceipt | undefined;
    for await (const chunk of await governedChatModel(chatAnthropic(), engine).stream("Say hello")) {
      last = receiptOn(chunk) ?? last;
    }
    expect(last?.cost).toBe(EXPECTED_UT);
  });

  it("UsertrustCallbackHandler prices 1-hour cache writes at the 1-hour rate", async () => {
    const engine = await engineOn();
    anthropic.setBehaviour(CACHED);
    const handler = new UsertrustCallbackHandler({ engine });
    const message = (await chatAnthropic().invoke("Say hello", { callbacks: [handler] })) as AIMessage;
    expect(receiptOn(message)?.cost).toBe(EXPECTED_UT);
  });
});

describe("usertrust/langchain over ChatAnthropic: stream usage", () => {
  // message_start carries a provisional output count and message_delta the cumulative total
  // (Anthropic streaming docs); LangChain puts each on its own chunk.
  it("counts the output tokens once (message_delta's cumulative count), not plus message_start's", async () => {
    const engine = await engineOn();
    anthropic.setBehaviour({ inputTokens: 1_000, outputTokens: 500 });
    const model = governedChatModel(chatAnthropic(), engine);
    let receipt: TrustReceipt | undefined;
    for await (const chunk of await model.stream("Say hello")) {
      receipt = (chunk.response_metadata?.usertrust as TrustReceipt | undefined) ?? receipt;
    }
    expect(receipt?.usage).toMatchObject({ inputTokens: 1_000, outputTokens: 500 });
  });

  it("a stream broken off early pays for the text received, not message_start's one provisional token", async () => {
    const vault = makeTempVault({ budget: 100_000 });
    cleanups.push(vault.cleanup);
    const engine = await createEngine({ vaultBase: vault.base });
    cleanups.push(() => engine.close());
    const reply = `${"word ".repeat(200)}`;
    anthropic.setBehaviour({ inputTokens: 1_000, outputTokens: 200, reply, chunkDelayMs: 2 });
    const model = governedChatModel(chatAnthropic(), engine);
    let received = "";
    for await (const chunk of await model.stream("Say a lot")) {
      received += chunk.text;
      if (received.length >= 300) break;
    }
    const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
    const usage = spend?.data.usage as TrustReceipt["usage"] | undefined;
    // ~300 bytes read (plus what LangChain read ahead): at 3 bytes a token, at least 100 output tokens.
    expect(usage?.inputTokens).toBe(1_000);
    expect(usage?.outputTokens).toBeGreaterThanOrEqual(Math.ceil(received.length / 3));
    expect(usage?.outputTokens).toBeLessThan(200);
  });
});
