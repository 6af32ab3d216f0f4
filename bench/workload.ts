import OpenAI from "openai";
import { trust } from "../src/adapters/trust.ts";
import type { TrustedClient } from "../src/adapters/trusted-client.ts";
import { LatencySamples, type LatencySummary, perSecond } from "./stats.ts";
import { makeBenchVault } from "./temp-vault.ts";

const PROMPT =
  "Summarise the quarterly cost report in three bullet points: spend by team, the largest single " +
  "model bill, and whether any budget was exceeded. Keep each bullet under twenty words, plain text.";

/** The one request every HTTP call in the benchmark sends, raw or governed. */
export const CHAT_BODY = {
  model: "gpt-4o-mini",
  messages: [{ role: "user" as const, content: PROMPT }],
  max_tokens: 64,
};

export type Call = () => Promise<unknown>;

export function makeOpenAI(url: string): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: "sk-bench", maxRetries: 0 });
}

export function rawCall(client: OpenAI): Call {
  return () => client.chat.completions.create(CHAT_BODY);
}

export function governedCall(client: TrustedClient<OpenAI>): Call {
  return () => client.chat.completions.create(CHAT_BODY);
}

export interface GovernedSetup {
  client: TrustedClient<OpenAI>;
  vaultBase: string;
  /** Destroys the client (flushing the audit chain, closing the ledger) and removes the vault. */
  dispose(): Promise<void>;
}

/** A governed client on the default durable ledger, in a fresh temp vault with a huge budget. */
export async function governedOnFreshVault(url: string): Promise<GovernedSetup> {
  const vault = makeBenchVault();
  try {
    const client = await trust(makeOpenAI(url), { vaultBase: vault.base });
    return {
      client,
      vaultBase: vault.base,
      dispose: async () => {
        try {
          await client.destroy();
        } finally {
          vault.cleanup();
        }
      },
    };
  } catch (error) {
    vault.cleanup();
    throw error;
  }
}

/** Fails loudly if a call does not look like what it should be, so a broken path is never timed. */
export async function assertCallsWork(raw: Call, governed: Call): Promise<void> {
  const plain = (await raw()) as { choices?: unknown[]; receipt?: unknown };
  if (!Array.isArray(plain.choices) || plain.receipt !== undefined)
    throw new Error("raw call returned no completion");
  const trusted = (await governed()) as {
    response?: { choices?: unknown[] };
    receipt?: { settled?: unknown };
  };
  if (!Array.isArray(trusted.response?.choices) || trusted.receipt?.settled !== true) {
    throw new Error("governed call returned no settled receipt");
  }
}

/**
 * The client's time on each side of the stand-in's: from the call to the request's arrival, and
 * from the answer leaving to the call's end (the stand-in stamps both on one machine-wide clock).
 * Network and SDK time is in both, for raw and governed calls alike; governance adds to one or the other.
 */
export class AroundServer {
  readonly before: LatencySamples;
  readonly after: LatencySamples;

  constructor(capacity: number) {
    this.before = new LatencySamples(capacity);
    this.after = new LatencySamples(capacity);
  }

  record(startNs: bigint, endNs: bigint, result: unknown): void {
    const times = standInTimes(result);
    if (times === undefined) throw new Error("the stand-in's answer carries no x_stand_in times");
    this.before.recordAt(this.before.count, Number(times.receivedNs - startNs) / 1000);
    this.after.recordAt(this.after.count, Number(endNs - times.sentNs) / 1000);
  }

  summary(): { beforeP50Us: number; afterP50Us: number } {
    return { beforeP50Us: this.before.summary().p50Us, afterP50Us: this.after.summary().p50Us };
  }
}

/** A raw call returns the completion; a governed one, an object whose `response` is the completion. */
function standInTimes(result: unknown): { receivedNs: bigint; sentNs: bigint } | undefined {
  const completion = (result as { response?: unknown }).response ?? result;
  const times = (completion as { x_stand_in?: { received_ns?: unknown; sent_ns?: unknown } }).x_stand_in;
  if (typeof times?.received_ns !== "string" || typeof times.sent_ns !== "string") return undefined;
  return { receivedNs: BigInt(times.received_ns), sentNs: BigInt(times.sent_ns) };
}

export async function runSequential(
  call: Call,
  count: number,
  samples?: LatencySamples,
  around?: AroundServer,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const startMs = performance.now();
    const startNs = around === undefined ? 0n : process.hrtime.bigint();
    const result = await call();
    samples?.recordSince(startMs);
    around?.record(startNs, process.hrtime.bigint(), result);
  }
}

/** Latency plus this process's CPU time (user + system) per call: less sensitive to other load than wall time. */
export interface SideResult extends LatencySummary {
  cpuUsPerCall: number;
}

/** A sequential side also splits its time around the stand-in's (p50 of each part). */
export interface SequentialSideResult extends SideResult {
  beforeServerP50Us: number;
  afterServerP50Us: number;
}

export interface PairedSequential {
  raw: SequentialSideResult;
  governed: SequentialSideResult;
}

/** Accumulates this process's CPU time over the stretches it is started and stopped around. */
class CpuMeter {
  #micros = 0;
  #start: NodeJS.CpuUsage | undefined;

  start(): void {
    this.#start = process.cpuUsage();
  }

  stop(): void {
    const used = process.cpuUsage(this.#start);
    this.#micros += used.user + used.system;
  }

  perCall(calls: number): number {
    return this.#micros / calls;
  }
}

/** One side of an interleaved run: its call, its latency samples, its CPU time and (when concurrent) wall time. */
export class Side {
  readonly call: Call;
  readonly samples: LatencySamples;
  readonly cpu = new CpuMeter();
  /** Sequential sides that split their time around the stand-in's. */
  readonly around: AroundServer | undefined;
  wallNs = 0n;

  constructor(call: Call, capacity: number, splitAroundServer = false) {
    this.call = call;
    this.samples = new LatencySamples(capacity);
    this.around = splitAroundServer ? new AroundServer(capacity) : undefined;
  }

  result(): SideResult {
    return { ...this.samples.summary(), cpuUsPerCall: this.cpu.perCall(this.samples.count) };
  }
}

/**
 * Runs `perBlock` sequential calls of each side in turn, `blocks` times, rotating which side goes
 * first (AB BA …, ABC BCA CAB …), so slow drift of the machine (other processes, heap growth, CPU
 * clocks) lands on every side equally.
 */
export async function runInterleaved(
  sides: readonly Side[],
  blocks: number,
  perBlock: number,
): Promise<void> {
  for (let block = 0; block < blocks; block++) {
    for (let turn = 0; turn < sides.length; turn++) {
      const side = sides[(block + turn) % sides.length];
      if (side === undefined) continue;
      side.cpu.start();
      await runSequential(side.call, perBlock, side.samples, side.around);
      side.cpu.stop();
    }
  }
}

/** Raw and governed in alternating blocks; see runInterleaved. */
export async function runPairedBlocks(
  raw: Call,
  governed: Call,
  blocks: number,
  perBlock: number,
): Promise<PairedSequential> {
  const rawSide = new Side(raw, blocks * perBlock, true);
  const governedSide = new Side(governed, blocks * perBlock, true);
  await runInterleaved([rawSide, governedSide], blocks, perBlock);
  const result = (side: Side): SequentialSideResult => {
    const around = (side.around as AroundServer).summary();
    return { ...side.result(), beforeServerP50Us: around.beforeP50Us, afterServerP50Us: around.afterP50Us };
  };
  return { raw: result(rawSide), governed: result(governedSide) };
}

export interface ConcurrentResult extends SideResult {
  calls: number;
  callsPerSec: number;
}

/** `calls` calls with at most `inFlight` outstanding; each worker pulls the next index when its call ends. Returns wall ns. */
export async function runConcurrent(
  call: Call,
  calls: number,
  inFlight: number,
  samples: LatencySamples,
  offset: number,
): Promise<bigint> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      if (index >= calls) return;
      const startMs = performance.now();
      await call();
      samples.recordAt(offset + index, (performance.now() - startMs) * 1000);
    }
  };
  const startNs = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(inFlight, calls) }, worker));
  return process.hrtime.bigint() - startNs;
}

export interface PairedConcurrent {
  inFlight: number;
  raw: ConcurrentResult;
  governed: ConcurrentResult;
}

/** Splits `callsEach` into `rounds` alternating rounds per side; throughput is calls over summed wall time. */
export async function runPairedConcurrent(
  raw: Call,
  governed: Call,
  callsEach: number,
  inFlight: number,
  rounds: number,
): Promise<PairedConcurrent> {
  const perRound = Math.ceil(callsEach / rounds);
  const rawSide = new Side(raw, perRound * rounds);
  const governedSide = new Side(governed, perRound * rounds);
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? [rawSide, governedSide] : [governedSide, rawSide]) {
      side.cpu.start();
      side.wallNs += await runConcurrent(side.call, perRound, inFlight, side.samples, round * perRound);
      side.cpu.stop();
    }
  }
  const result = (side: Side): ConcurrentResult => ({
    ...side.result(),
    calls: side.samples.count,
    callsPerSec: perSecond(side.samples.count, 0n, side.wallNs),
  });
  return { inFlight, raw: result(rawSide), governed: result(governedSide) };
}
