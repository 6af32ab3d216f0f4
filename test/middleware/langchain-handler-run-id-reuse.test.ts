import { randomUUID } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { AIMessageChunk } from "@langchain/core/messages";
import { describe, expect, it } from "vitest";
import { UsertrustCallbackHandler } from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { langChainOnOpenAI, type Vault } from "../support/langchain-fixture.ts";

// LangChain takes a caller's `runId` (RunnableConfig.runId) as the model run's id, so a caller may
// give two runs the same one: the same config for a retry after breaking out of a stream, or a
// request id to read totals(runId) by. A run is the handler's by identity, not by id: the run a
// new one replaces is settled at what it streamed, and a collected run's finalizer settles that
// run only, never the live one that has its id now.

const { server, engineOn, chatOpenAI } = langChainOnOpenAI();

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const CHUNK = `${"x".repeat(2_999)} `;

interface Spend {
  usageSource: string;
  usage: { outputTokens: number };
}

function spendsOf(vault: Vault): Spend[] {
  return readAuditLog(vault.paths.auditLog)
    .filter((event) => event.kind === "spend")
    .map((event) => event.data as unknown as Spend);
}

/** Streams until its first text, then breaks out: LangChain sends the run neither an end nor an error. */
async function breakOutOfStream(
  model: ReturnType<typeof chatOpenAI>,
  handler: UsertrustCallbackHandler,
  runId: string,
) {
  server().setBehaviour({ replyChunks: [CHUNK, CHUNK, CHUNK, CHUNK], chunkDelayMs: 5 });
  for await (const chunk of await model.stream("Write", { callbacks: [handler], runId })) {
    if ((chunk as AIMessageChunk).text !== "") break;
  }
}

describe("UsertrustCallbackHandler: a run id given to two runs", () => {
  it("settles the broken stream it replaces at what it streamed, as the second starts", async () => {
    const { vault, engine } = await engineOn();
    const handler = new UsertrustCallbackHandler({ engine });
    const runId = randomUUID();
    const model = chatOpenAI();
    await breakOutOfStream(model, handler, runId);
    expect(spendsOf(vault)).toEqual([]);

    server().setBehaviour({ replyChunks: ["one ", "two"], promptTokens: 1_000, completionTokens: 10 });
    for await (const _chunk of await model.stream("Count", { callbacks: [handler], runId })) {
      // read to the end
    }

    const spends = spendsOf(vault);
    expect(spends).toHaveLength(2);
    // The first at least at the 3,000 bytes it delivered (3 bytes a token), the second at its usage.
    expect(
      spends.find((spend) => spend.usageSource !== "provider")?.usage.outputTokens,
    ).toBeGreaterThanOrEqual(1_000);
    expect(spends.find((spend) => spend.usageSource === "provider")?.usage.outputTokens).toBe(10);
    expect(handler.totals(runId).calls).toBe(2);
    expect(await handler.settleOpenStreams()).toEqual([]);
  });

  it("a broken stream's finalizer does not settle a later stream that reuses its runId", async () => {
    const { vault, engine } = await engineOn();
    const handler = new UsertrustCallbackHandler({ engine });
    const runId = randomUUID();
    const model = chatOpenAI();
    await breakOutOfStream(model, handler, runId);

    server().setBehaviour({
      replyChunks: ["one ", "two ", "three ", "four ", "five"],
      chunkDelayMs: 40,
      promptTokens: 1_000_000,
      completionTokens: 100_000,
    });
    let collected = false;
    for await (const chunk of await model.stream("Count", { callbacks: [handler], runId })) {
      if (collected || (chunk as AIMessageChunk).text === "") continue;
      collected = true;
      // The first stream's run is abandoned: collect it while the second is still streaming.
      for (let tries = 0; tries < 50; tries++) {
        collectGarbage();
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (spendsOf(vault).length > 0) break;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));

    const spends = spendsOf(vault);
    // The second stream ran to its end: it is settled at the provider's usage (1M in + 100k out).
    expect(spends.filter((spend) => spend.usageSource === "provider")).toHaveLength(1);
    expect(spends.find((spend) => spend.usageSource === "provider")?.usage.outputTokens).toBe(100_000);
  });
});
