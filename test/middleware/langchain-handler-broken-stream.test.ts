import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { AIMessageChunk } from "@langchain/core/messages";
import { StringOutputParser } from "@langchain/core/output_parsers";
import type { ChatOpenAI } from "@langchain/openai";
import { describe, expect, it } from "vitest";
import type { Engine } from "../../src/core/engine.ts";
import { estimateOutputTokens } from "../../src/core/hold-sizing.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { UsertrustCallbackHandler } from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { langChainOnOpenAI, type Vault } from "../support/langchain-fixture.ts";

/*
 * A consumer that breaks out of `model.stream()` gets no handleLLMEnd and no handleLLMError from
 * LangChain (@langchain/core 1.4): the run just stops. UsertrustCallbackHandler must not leave that
 * run's hold pending until it expires: it settles it at the text the handler saw streamed, when
 * LangChain's run is collected, when the handler is told to (settleOpenStreams), and when
 * LangChain does report an error after tokens (streamEvents v2 reports the break as an AbortError).
 */

const { server, engineOn, chatOpenAI } = langChainOnOpenAI();

// The collector, as --expose-gc would give it, so the test can collect LangChain's abandoned run.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

/** 3,000 bytes a chunk: ceil(3,000 / 3) = 1,000 output tokens each, 6 UT at gpt-4o-mini's $0.60/M. */
const CHUNK = `${"x".repeat(2_999)} `;
const REPLY = [CHUNK, CHUNK, CHUNK, CHUNK, CHUNK, CHUNK];

/** Reads a stream until `count` non-empty chunks arrived, then breaks out; returns the text read. */
async function readThenBreak(model: ChatOpenAI, handler: UsertrustCallbackHandler, count: number) {
  let text = "";
  let seen = 0;
  for await (const chunk of await model.stream("Write", { callbacks: [handler] })) {
    text += (chunk as AIMessageChunk).text;
    if ((chunk as AIMessageChunk).text !== "") seen += 1;
    if (seen === count) break;
  }
  return text;
}

/** Collects until the ledger has nothing pending (the run's finalizer settled it), at most `triesMax` times. */
async function collectUntilSettled(engine: Engine, triesMax = 50): Promise<void> {
  for (let tries = 0; tries < triesMax; tries++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 20));
    if ((await engine.balance()).pendingUsertokens === 0) return;
  }
}

function spendOf(vault: Vault) {
  const events = readAuditLog(vault.paths.auditLog);
  expect(events.map((event) => event.kind)).toEqual(["spend"]);
  return events[0]?.data as { usage: TrustReceipt["usage"]; costUsertokens: number; usageSource: string };
}

describe("UsertrustCallbackHandler: a stream the consumer breaks out of", () => {
  it("is settled at the streamed text once LangChain's run is collected, not left pending", async () => {
    const { vault, engine } = await engineOn();
    const handler = new UsertrustCallbackHandler({ engine });
    server().setBehaviour({ replyChunks: REPLY, chunkDelayMs: 5 });

    const text = await readThenBreak(chatOpenAI(), handler, 2);
    expect(text).toBe(CHUNK + CHUNK);
    expect((await engine.balance()).pendingUsertokens).toBeGreaterThan(0);

    await collectUntilSettled(engine);

    const balance = await engine.balance();
    expect(balance.pendingUsertokens).toBe(0);
    const spend = spendOf(vault);
    expect(spend.usageSource).toBe("estimated");
    // At least the 6,000 bytes delivered (2,000 tokens, 12 UT), never the whole reply's 6,000 tokens.
    expect(spend.usage.outputTokens).toBeGreaterThanOrEqual(estimateOutputTokens(Buffer.byteLength(text)));
    expect(spend.usage.outputTokens).toBeLessThan(6_000);
    expect(balance.postedUsertokens).toBe(spend.costUsertokens);
    expect(balance.postedUsertokens).toBeGreaterThanOrEqual(12);
  });

  it("settles a model broken out of inside a chain's stream, and rolls it up to the chain", async () => {
    const { vault, engine } = await engineOn();
    const handler = new UsertrustCallbackHandler({ engine });
    server().setBehaviour({ replyChunks: REPLY, chunkDelayMs: 5 });
    const chain = chatOpenAI().pipe(new StringOutputParser());

    let text = "";
    let chainRunId: string | undefined;
    const stream = await chain.stream("Write", {
      callbacks: [
        handler,
        {
          handleChainStart: (_chain, _inputs, runId) => {
            chainRunId ??= runId;
          },
        },
      ],
    });
    for await (const piece of stream) {
      text += piece;
      if (text.length >= 2 * CHUNK.length) break;
    }
    await collectUntilSettled(engine);

    expect((await engine.balance()).pendingUsertokens).toBe(0);
    expect(spendOf(vault).usage.outputTokens).toBeGreaterThanOrEqual(
      estimateOutputTokens(Buffer.byteLength(text)),
    );
    expect(handler.totals(chainRunId ?? "").calls).toBe(1);
  });

  it("is settled at the streamed text by settleOpenStreams(), with no wait for the collector", async () => {
    const { vault, engine } = await engineOn();
    const handler = new UsertrustCallbackHandler({ engine });
    server().setBehaviour({ replyChunks: REPLY, chunkDelayMs: 5 });

    const text = await readThenBreak(chatOpenAI(), handler, 2);
    const receipts = await handler.settleOpenStreams();

    expect(receipts).toHaveLength(1);
    const balance = await engine.balance();
    expect(balance.pendingUsertokens).toBe(0);
    expect(balance.postedUsertokens).toBe(receipts[0]?.cost);
    expect(spendOf(vault).usage.outputTokens).toBeGreaterThanOrEqual(
      estimateOutputTokens(Buffer.byteLength(text)),
    );
  });

  it("leaves a stream that ends normally to handleLLMEnd: settleOpenStreams() then has nothing to do", async () => {
    const { vault, engine } = await engineOn();
    const handler = new UsertrustCallbackHandler({ engine });
    server().setBehaviour({
      replyChunks: ["one ", "two"],
      promptTokens: 1_000_000,
      completionTokens: 100_000,
    });

    for await (const _chunk of await chatOpenAI().stream("Count", { callbacks: [handler] })) {
      // read to the end
    }

    expect(await handler.settleOpenStreams()).toEqual([]);
    // 1M input × $0.15/M + 100k output × $0.60/M = $0.21: the provider's usage, not an estimate.
    expect(spendOf(vault)).toMatchObject({ usageSource: "provider", costUsertokens: 2_100 });
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 2_100, pendingUsertokens: 0 });
  });

  it("charges streamEvents v2 broken out of (LangChain reports an AbortError) for the streamed text", async () => {
    const { vault, engine } = await engineOn();
    const handler = new UsertrustCallbackHandler({ engine });
    server().setBehaviour({ replyChunks: REPLY, chunkDelayMs: 5 });

    let text = "";
    const events = chatOpenAI().streamEvents("Write", { version: "v2", callbacks: [handler] });
    for await (const event of events) {
      if (event.event !== "on_chat_model_stream") continue;
      text += (event.data.chunk as AIMessageChunk).text;
      if (text.length >= 2 * CHUNK.length) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));

    const balance = await engine.balance();
    expect(balance.pendingUsertokens).toBe(0);
    const spend = spendOf(vault);
    expect(spend.usage.outputTokens).toBeGreaterThanOrEqual(estimateOutputTokens(Buffer.byteLength(text)));
    expect(balance.postedUsertokens).toBeGreaterThanOrEqual(12);
  });
});
