import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { AIMessage } from "@langchain/core/messages";
import { RunnableLambda } from "@langchain/core/runnables";
import { ChatOpenAI } from "@langchain/openai";
import { describe, expect, it } from "vitest";
import { FINISHED_RUNS_MAX } from "../../src/middleware/langchain/callback-handler.ts";
import { UsertrustCallbackHandler } from "../../src/middleware/langchain/index.ts";
import { runGcWorker } from "../support/gc-worker.ts";
import { langChainOnOpenAI } from "../support/langchain-fixture.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * A UsertrustCallbackHandler set once on a long-lived model (`callbacks: [handler]`) sees every call
 * of the process. It keeps a run's state only until the run ends, and the totals of the last
 * FINISHED_RUNS_MAX root runs after that, so what it holds does not grow with the calls it sees.
 */

const { server, engineOn, chatOpenAI } = langChainOnOpenAI();
const runId = (index: number) => `0192f5a0-0000-7000-8000-${index.toString(16).padStart(12, "0")}`;

describe("UsertrustCallbackHandler on a long-lived model: memory", () => {
  it("keeps the heap flat over 3,000 ChatOpenAI.invoke calls, answering totals() for the last FINISHED_RUNS_MAX", async () => {
    const vault = makeTempVault({ budget: 1_000_000_000 });
    try {
      // 1,500 warm-up calls, then 3,000 measured ones (see the worker).
      const result = (await runGcWorker("langchain-handler-heap.ts", [vault.base, "4500"])) as {
        perCallBytes: number;
        answered: number;
        lastAnswers: number;
      };
      // Keeping every run cost ~650 B per call; a bounded handler keeps ~0 (GC noise is tens of bytes).
      expect(result.perCallBytes, `heap grew ${Math.round(result.perCallBytes)} B per call`).toBeLessThan(
        100,
      );
      expect(result.answered).toBe(FINISHED_RUNS_MAX);
      expect(result.lastAnswers).toBe(1);
    } finally {
      vault.cleanup();
    }
  }, 120_000);
});

describe("UsertrustCallbackHandler: how long totals(runId) answers", () => {
  it(`answers for the last ${FINISHED_RUNS_MAX} finished root runs, forgetting the oldest first`, async () => {
    const { engine } = await engineOn(1_000_000);
    const handler = new UsertrustCallbackHandler(engine);
    server().setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const model = chatOpenAI();
    for (let index = 0; index <= FINISHED_RUNS_MAX; index++) {
      await model.invoke("Say hello", { callbacks: [handler], runId: runId(index) });
    }
    expect(handler.totals(runId(0))).toMatchObject({ cost: 0, calls: 0 });
    // 1M input tokens × $0.15/M = 1,500 UT.
    expect(handler.totals(runId(1))).toMatchObject({ cost: 1_500, calls: 1 });
    expect(handler.totals(runId(FINISHED_RUNS_MAX))).toMatchObject({ cost: 1_500, calls: 1 });
  });

  it("answers for a chain while it runs, and for a nested run only until that run ends", async () => {
    const { engine } = await engineOn();
    const handler = new UsertrustCallbackHandler(engine);
    server().setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const model = chatOpenAI();
    const [root, nested] = [runId(1), runId(2)];
    const seen: Array<{ root: number; nested: number }> = [];
    const look = () => seen.push({ root: handler.totals(root).calls, nested: handler.totals(nested).calls });
    const twice = RunnableLambda.from(async (input: string, config) => {
      await model.invoke(input, config);
      look();
      return (await model.invoke(input, config)) as AIMessage;
    });
    const chain = RunnableLambda.from(async (input: string, config) => {
      const message = await twice.invoke(input, { ...config, runId: nested });
      look();
      return message;
    });
    await chain.invoke("Say hello", { callbacks: [handler], runId: root });
    expect(seen).toEqual([
      { root: 1, nested: 1 },
      { root: 2, nested: 0 },
    ]);
    expect(handler.totals(root)).toMatchObject({ cost: 3_000, calls: 2 });
    expect(handler.totals(nested)).toMatchObject({ cost: 0, calls: 0 });
  });

  it("rolls up to a traced chain run calling a model whose handler is set in the model's constructor", async () => {
    const { engine } = await engineOn();
    const handler = new UsertrustCallbackHandler(engine);
    server().setBehaviour({ promptTokens: 1_000_000, completionTokens: 0 });
    const model = new ChatOpenAI({
      model: "gpt-4o-mini",
      apiKey: "test",
      configuration: { baseURL: `${server().url}/v1` },
      maxRetries: 0,
      maxTokens: 1_000_000,
      callbacks: [handler],
    });
    const chain = RunnableLambda.from(async (input: string, config) => {
      await model.invoke(input, config);
      return model.invoke(input, config);
    });
    // The chain runs with another handler (a tracer, say), not this one: this one never sees it
    // start or end, only that the model's runs have it as parent.
    const tracer = BaseCallbackHandler.fromMethods({});
    await chain.invoke("Say hello", { callbacks: [tracer], runId: runId(3) });
    expect(handler.totals(runId(3))).toMatchObject({ cost: 3_000, calls: 2 });
  });
});
