import { describe, expect, it } from "vitest";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { UsertrustCallbackHandler } from "../../src/middleware/langchain/index.ts";
import { langChainOnOpenAI } from "../support/langchain-fixture.ts";

// handleLLMEnd takes the run's hold before it awaits the ledger, so a settleOpenStreams() that runs
// in that window (a shared handler: another request returning, or an onReceipt callback) finds
// nothing open to settle, and the call is rolled up once.

const { server, engineOn, chatOpenAI } = langChainOnOpenAI();

describe("UsertrustCallbackHandler: a stream that ends while settleOpenStreams() runs is counted once", () => {
  it("totals(runId) has one call, and the sweep settles nothing", async () => {
    const { engine } = await engineOn();
    const swept: Array<Promise<TrustReceipt[]>> = [];
    const handler: UsertrustCallbackHandler = new UsertrustCallbackHandler({
      engine,
      // A sweep that lands while the stream's own end is being settled.
      onReceipt: () => {
        swept.push(handler.settleOpenStreams());
      },
    });
    server().setBehaviour({ replyChunks: ["one ", "two"], promptTokens: 1_000, completionTokens: 10 });
    let runId: string | undefined;
    const stream = await chatOpenAI().stream("Count", {
      callbacks: [
        handler,
        {
          handleChatModelStart: (_llm, _messages, id) => {
            runId ??= id;
          },
        },
      ],
    });
    for await (const _chunk of stream) {
      // read to the end
    }
    await Promise.all(swept);
    expect(swept.length).toBeGreaterThan(0);
    expect(handler.totals(runId ?? "").calls).toBe(1);
    expect((await Promise.all(swept)).flat()).toEqual([]);
  });
});
