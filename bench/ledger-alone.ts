import { join } from "node:path";
import { chatRequestToGoverned } from "../src/adapters/openai/chat-request.ts";
import { AuditChain } from "../src/core/audit/audit-chain.ts";
import { createEngine } from "../src/core/create-engine.ts";
import type { Engine } from "../src/core/engine.ts";
import type { GovernedRequest } from "../src/core/governed-request.ts";
import { SqliteLedger } from "../src/core/ledger/sqlite-ledger.ts";
import { makeUsage, type Usage } from "../src/core/usage.ts";
import { LatencySamples, type LatencySummary, perSecond } from "./stats.ts";
import { BENCH_BUDGET_USERTOKENS, makeBenchDir, makeBenchVault } from "./temp-vault.ts";
import { CHAT_BODY } from "./workload.ts";

/** The engine sees exactly what trust() hands it for the benchmark's HTTP request. */
export const BENCH_REQUEST: GovernedRequest = chatRequestToGoverned(CHAT_BODY);
/** What the stand-in reports for that request: ceil(JSON bytes of messages / 4) in, one token per reply word out. */
export const BENCH_USAGE: Usage = makeUsage({
  inputTokens: Math.ceil(Buffer.byteLength(JSON.stringify(CHAT_BODY.messages)) / 4),
  outputTokens: "Hello from the stand-in.".split(" ").length,
});

const HOLD_USERTOKENS = 20;
const POST_USERTOKENS = 7;
const HOLD_TIMEOUT_SECONDS = 600;

export interface OpsResult {
  ops: number;
  opsPerSec: number;
  perOp: LatencySummary;
}

/** One engine.authorize + hold.settle: the whole governed pipeline minus the HTTP call and the SDK. */
export async function authorizeAndSettle(engine: Engine): Promise<void> {
  const hold = await engine.authorize(BENCH_REQUEST);
  await hold.settle(BENCH_USAGE);
}

async function timeOps(ops: number, op: (index: number) => Promise<void> | void): Promise<OpsResult> {
  const samples = new LatencySamples(ops);
  const startNs = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const startMs = performance.now();
    await op(i);
    samples.recordSince(startMs);
  }
  const endNs = process.hrtime.bigint();
  return { ops, opsPerSec: perSecond(ops, startNs, endNs), perOp: samples.summary() };
}

export async function benchEngine(ops: number, warmup: number): Promise<OpsResult> {
  const vault = makeBenchVault();
  const engine = await createEngine({ vaultBase: vault.base });
  try {
    for (let i = 0; i < warmup; i++) await authorizeAndSettle(engine);
    return await timeOps(ops, () => authorizeAndSettle(engine));
  } finally {
    await engine.close();
    vault.cleanup();
  }
}

/** 20 earlier messages of ~5 KiB each: what an agent re-sends on every turn. */
const HISTORY = Array.from(
  { length: 20 },
  (_, i) =>
    `Turn ${i}: ${"The tool returned rows of quarterly spend by team, region and model, with totals. ".repeat(64)}`,
);

/**
 * engine.authorize + hold.settle for a ~100 KiB conversation that grows by one new message per
 * call, as in an agent loop: what scanning and hashing the prompt cost at that size.
 */
export async function benchEngineConversation(ops: number, warmup: number): Promise<OpsResult> {
  const vault = makeBenchVault();
  const engine = await createEngine({ vaultBase: vault.base });
  const turn = (index: number): GovernedRequest => ({
    ...BENCH_REQUEST,
    promptParts: [...HISTORY, `New question ${index}: which team spent the most this quarter?`],
  });
  try {
    for (let i = 0; i < warmup; i++) await (await engine.authorize(turn(i))).settle(BENCH_USAGE);
    return await timeOps(ops, async (i) => {
      await (await engine.authorize(turn(warmup + i))).settle(BENCH_USAGE);
    });
  } finally {
    await engine.close();
    vault.cleanup();
  }
}

/** Lets the CPU go idle for about a millisecond, as it does while a call waits for its provider. */
function idle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * engine.authorize and hold.settle timed as inside a real call: the process idles between them
 * (and before the next call), so both start on a CPU whose caches went cold while it waited. Only
 * the two steps are timed, not the idle. The gap to the back-to-back loop is what any work costs
 * more inside a call on this machine, the raw SDK's own parsing included.
 */
export async function benchEngineAfterIdle(ops: number, warmup: number): Promise<OpsResult> {
  const vault = makeBenchVault();
  const engine = await createEngine({ vaultBase: vault.base });
  try {
    for (let i = 0; i < warmup; i++) await authorizeAndSettle(engine);
    const samples = new LatencySamples(ops);
    let busyNs = 0n;
    for (let i = 0; i < ops; i++) {
      await idle();
      const authorizeStart = process.hrtime.bigint();
      const hold = await engine.authorize(BENCH_REQUEST);
      const authorizeNs = process.hrtime.bigint() - authorizeStart;
      await idle();
      const settleStart = process.hrtime.bigint();
      await hold.settle(BENCH_USAGE);
      const stepsNs = authorizeNs + (process.hrtime.bigint() - settleStart);
      busyNs += stepsNs;
      samples.recordAt(i, Number(stepsNs) / 1000);
    }
    return { ops, opsPerSec: perSecond(ops, 0n, busyNs), perOp: samples.summary() };
  } finally {
    await engine.close();
    vault.cleanup();
  }
}

export async function benchSqliteLedger(ops: number, warmup: number): Promise<OpsResult> {
  const { dir, cleanup } = makeBenchDir("ledger");
  const ledger = new SqliteLedger({
    path: join(dir, "ledger.db"),
    budgetUsertokens: BENCH_BUDGET_USERTOKENS,
  });
  const reserveAndPost = async (id: string): Promise<void> => {
    await ledger.reserve(id, HOLD_USERTOKENS, HOLD_TIMEOUT_SECONDS);
    await ledger.post(id, POST_USERTOKENS);
  };
  try {
    for (let i = 0; i < warmup; i++) await reserveAndPost(`warm_${i}`);
    return await timeOps(ops, (i) => reserveAndPost(`hold_${i}`));
  } finally {
    await ledger.close();
    cleanup();
  }
}

/** A spend event's data as the engine writes it, so line length and hashing cost are realistic. */
function spendData(index: number): Record<string, unknown> {
  return {
    transferId: `tx_bench_${index}`,
    model: "gpt-4o-mini",
    provider: "openai",
    promptHash: "9f2c4b0e6d1a8c3f5e7b9d2a4c6e8f0a1b3d5f7092c4e6a8b0d2f4a6c8e0b2d4",
    costUsertokens: 1,
    postedUsertokens: 1,
    shortfallUsertokens: 0,
    holdUsertokens: 1,
    usage: { inputTokens: 60, outputTokens: 4, cacheReadTokens: 0, cacheWriteTokens: 0 },
    usageSource: "provider",
    pricedAs: "gpt-4o-mini",
    priceSource: "genai-prices",
    warnings: [],
  };
}

export async function benchAuditAppend(ops: number, warmup: number): Promise<OpsResult> {
  const { dir, cleanup } = makeBenchDir("audit");
  const chain = new AuditChain({ logPath: join(dir, "events.jsonl"), headPath: join(dir, "head.db") });
  try {
    for (let i = 0; i < warmup; i++) chain.append("spend", "bench", spendData(i));
    return await timeOps(ops, (i) => {
      chain.append("spend", "bench", spendData(i));
    });
  } finally {
    chain.close();
    cleanup();
  }
}
