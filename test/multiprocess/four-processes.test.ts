import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { chatRequestToGoverned } from "../../src/adapters/openai/chat-request.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { measureHold } from "../support/measure-hold.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";
import { killWorker, startWorker, type Worker, withTimeout } from "../support/worker-process.ts";
import type { CallerOptions, CallerSummary } from "../support/workers/governed-caller.ts";

const CALLER = fileURLToPath(new URL("../support/workers/governed-caller.ts", import.meta.url));
const WORKERS = 4;
const LANES_PER_WORKER = 3;
const MAX_TOKENS = 100_000;
const HOLDS_IN_BUDGET = 150;
const STARTUP_TIMEOUT_MS = 15_000;
const RUN_TIMEOUT_MS = 20_000;

let server: OpenAIStandIn;
const workers: Worker[] = [];
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn({}, { record: false });
});
afterAll(() => server.close());
afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const isType = (type: string) => (line: string) => line.startsWith(`{"type":"${type}"`);
const printed = (worker: Worker, type: string) => () => worker.lines.some(isType(type));

describe("four OS processes governing calls on one vault", () => {
  it("share one budget, post exactly what their receipts cost, and keep one gap-free valid chain", async () => {
    const { holdUsertokens, inputTokensEstimate } = await measureHold(
      chatRequestToGoverned({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: MAX_TOKENS,
      }),
    );
    const budget = HOLDS_IN_BUDGET * holdUsertokens + Math.floor(holdUsertokens / 2);
    const vault = makeTempVault({ budget });
    cleanups.push(vault.cleanup);
    // Every call costs exactly its hold, so however the processes interleave exactly HOLDS_IN_BUDGET calls fit.
    server.setBehaviour({ delayMs: 10, promptTokens: inputTokensEstimate, completionTokens: MAX_TOKENS });

    const started = Array.from({ length: WORKERS }, (_, index) => {
      const options: CallerOptions = {
        baseURL: `${server.url}/v1`,
        vaultBase: vault.base,
        actor: `worker-${index}`,
        lanes: LANES_PER_WORKER,
        maxCalls: 1_000,
        maxTokens: MAX_TOKENS,
        stream: false,
        progress: false,
        waitForGo: true,
      };
      return startWorker(workers, CALLER, [JSON.stringify(options)]);
    });
    // Release all workers at once so their calls really overlap instead of following process start-up order.
    await Promise.all(
      started.map((worker) => worker.waitUntil(printed(worker, "ready"), STARTUP_TIMEOUT_MS, "ready line")),
    );
    for (const worker of started) worker.child.stdin?.write("go\n");
    const exits = await withTimeout(
      Promise.all(started.map((worker) => worker.exited)),
      RUN_TIMEOUT_MS,
      "workers did not finish",
    );
    for (const [index, exit] of exits.entries()) {
      expect(exit, `worker-${index} stderr:\n${started[index]?.stderr()}`).toEqual({ code: 0, signal: null });
    }
    const summaries = started.map((worker) => {
      const line = worker.lines.find(isType("summary"));
      if (line === undefined) throw new Error(`a worker printed no summary; stderr:\n${worker.stderr()}`);
      return JSON.parse(line) as CallerSummary;
    });

    for (const summary of summaries) {
      expect(summary.errors).toEqual([]);
      expect(summary.refusals).toBeGreaterThanOrEqual(1);
    }
    const successes = summaries.reduce((sum, s) => sum + s.successes, 0);
    const refusals = summaries.reduce((sum, s) => sum + s.refusals, 0);
    const receiptCost = summaries.reduce((sum, s) => sum + s.costUsertokens, 0);
    expect(successes).toBe(HOLDS_IN_BUDGET);

    const reader = new SqliteLedger({ path: vault.paths.ledger });
    const balance = await reader.balance();
    await reader.close();
    expect(balance.postedUsertokens).toBeLessThanOrEqual(budget);
    expect(balance.postedUsertokens).toBe(receiptCost);
    expect(balance.postedUsertokens).toBe(HOLDS_IN_BUDGET * holdUsertokens);
    expect(balance.pendingUsertokens).toBe(0);
    const db = new DatabaseSync(vault.paths.ledger, { readOnly: true });
    const states = db.prepare("SELECT state, COUNT(*) AS n FROM holds GROUP BY state").all();
    db.close();
    expect(states).toEqual([{ state: "posted", n: successes }]);

    const chain = verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead });
    expect(chain.problem).toBeNull();
    expect(chain.ok).toBe(true);
    const events = readAuditLog(vault.paths.auditLog);
    expect(events).toHaveLength(successes + refusals);
    expect(events.map((event) => event.sequence)).toEqual(
      Array.from({ length: events.length }, (_, i) => i + 1),
    );
    expect(new Set(events.map((event) => event.kind))).toEqual(new Set(["spend", "budget_exceeded"]));
    for (const summary of summaries) {
      const own = events.filter((event) => event.actor === summary.actor);
      expect(own.filter((event) => event.kind === "budget_exceeded")).toHaveLength(summary.refusals);
      const spent = own.filter((event) => event.kind === "spend").map((event) => event.data.transferId);
      expect(new Set(spent)).toEqual(new Set(summary.transferIds));
      expect(spent).toHaveLength(summary.successes);
    }
    // More than one process actually wrote to the chain, interleaved.
    const writers = new Set(events.filter((event) => event.kind === "spend").map((event) => event.actor));
    expect(writers.size).toBeGreaterThan(1);
  });
});
