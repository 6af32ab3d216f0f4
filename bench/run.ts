/**
 * `npm run bench [-- --quick] [-- --json]`: governed vs raw OpenAI calls against a local stand-in
 * running in a child process, the ledger and audit chain alone, and latency as a vault grows.
 * Progress goes to stderr; the table (and with --json, a JSON document after it) to stdout.
 */
import { execFileSync } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { benchDurabilityFloor } from "./durability-floor.ts";
import { benchLedgerAdapters } from "./ledger-adapters.ts";
import {
  benchAuditAppend,
  benchEngine,
  benchEngineAfterIdle,
  benchEngineConversation,
  benchSqliteLedger,
} from "./ledger-alone.ts";
import { type BenchResult, evaluateGoals, formatReport, type Measured, ratiosOf } from "./report.ts";
import { startStandInProcess } from "./stand-in-process.ts";
import { removeBenchDirs } from "./temp-vault.ts";
import { benchVaultGrowth } from "./vault-growth.ts";
import {
  assertCallsWork,
  governedCall,
  governedOnFreshVault,
  makeOpenAI,
  rawCall,
  runPairedBlocks,
  runPairedConcurrent,
  runSequential,
} from "./workload.ts";

interface Sizes {
  warmupCalls: number;
  blocks: number;
  callsPerBlock: number;
  concurrentCalls: number;
  inFlight: number;
  concurrentRounds: number;
  ledgerOps: number;
  /** reserve + post pairs per ledger adapter and mode. */
  adapterOps: number;
  ledgerWarmup: number;
  growthMeasuredCalls: number;
  growthVaultCalls: number;
}

const FULL: Sizes = {
  warmupCalls: 1_000,
  blocks: 10,
  callsPerBlock: 300,
  concurrentCalls: 6_000,
  inFlight: 32,
  concurrentRounds: 4,
  ledgerOps: 20_000,
  adapterOps: 5_000,
  ledgerWarmup: 2_000,
  growthMeasuredCalls: 1_000,
  growthVaultCalls: 100_000,
};

/** A smoke run of every section in about a tenth of the time; its numbers are noisier. */
const QUICK: Sizes = {
  warmupCalls: 500,
  blocks: 8,
  callsPerBlock: 250,
  concurrentCalls: 3_000,
  inFlight: 32,
  concurrentRounds: 2,
  ledgerOps: 5_000,
  adapterOps: 1_000,
  ledgerWarmup: 500,
  growthMeasuredCalls: 500,
  growthVaultCalls: 30_000,
};

/** The commit under test and whether src/ has uncommitted edits; "unknown" outside a git checkout. */
function gitState(): { gitCommit: string; srcDirty: boolean } {
  const git = (...args: string[]): string =>
    execFileSync("git", args, {
      cwd: new URL("..", import.meta.url),
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  try {
    return {
      gitCommit: git("rev-parse", "--short", "HEAD"),
      srcDirty: git("status", "--porcelain", "--", "src").length > 0,
    };
  } catch {
    return { gitCommit: "unknown", srcDirty: false };
  }
}

function progress(message: string): void {
  process.stderr.write(`· ${message}\n`);
}

async function main(): Promise<number> {
  let flags: { quick: boolean; json: boolean };
  try {
    const { values } = parseArgs({
      options: { quick: { type: "boolean", default: false }, json: { type: "boolean", default: false } },
    });
    flags = { quick: values.quick, json: values.json };
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: npm run bench -- [--quick] [--json]\n`);
    return 2;
  }
  const sizes = flags.quick ? QUICK : FULL;
  const startedAt = new Date();
  const startMs = performance.now();
  const loadAverageAtStart = loadavg()[0] ?? 0;
  const git = gitState();
  if (loadAverageAtStart > availableParallelism() / 2) {
    progress(`the machine is busy (load ${loadAverageAtStart.toFixed(2)}): wall-clock numbers will be noisy`);
  }

  progress("starting the OpenAI stand-in in a child process");
  const standIn = await startStandInProcess();
  const stopOnSignal = (): void => {
    void standIn.stop().finally(() => {
      removeBenchDirs();
      process.exit(130);
    });
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  try {
    const rawClient = makeOpenAI(standIn.url);
    const raw = rawCall(rawClient);
    const setup = await governedOnFreshVault(standIn.url);
    let sequential: Measured["sequential"];
    let concurrent: Measured["concurrent"];
    try {
      const governed = governedCall(setup.client);
      await assertCallsWork(raw, governed);
      progress(`warming up: ${sizes.warmupCalls} raw + ${sizes.warmupCalls} governed calls`);
      await runSequential(raw, sizes.warmupCalls);
      await runSequential(governed, sizes.warmupCalls);

      progress(`sequential: ${sizes.blocks} blocks × ${sizes.callsPerBlock} calls each side`);
      const seq = await runPairedBlocks(raw, governed, sizes.blocks, sizes.callsPerBlock);
      sequential = {
        ...seq,
        calls: sizes.blocks * sizes.callsPerBlock,
        blocks: sizes.blocks,
        ratios: ratiosOf(seq.governed, seq.raw),
        overheadP50Us: seq.governed.p50Us - seq.raw.p50Us,
      };

      progress(`concurrent: ${sizes.concurrentCalls} calls each side, ${sizes.inFlight} in flight`);
      const conc = await runPairedConcurrent(
        raw,
        governed,
        sizes.concurrentCalls,
        sizes.inFlight,
        sizes.concurrentRounds,
      );
      concurrent = {
        ...conc,
        throughputRatio: conc.governed.callsPerSec / conc.raw.callsPerSec,
        ratios: ratiosOf(conc.governed, conc.raw),
      };
    } finally {
      await setup.dispose();
    }

    progress(`ledger alone: ${sizes.ledgerOps} ops each`);
    const ledger = {
      engineAuthorizeSettle: await benchEngine(sizes.ledgerOps, sizes.ledgerWarmup),
      // Each op idles ~2 ms, so a tenth of the ops keeps the section's time in line.
      engineAfterIdle: await benchEngineAfterIdle(Math.ceil(sizes.ledgerOps / 10), sizes.ledgerWarmup),
      engineConversation: await benchEngineConversation(
        Math.ceil(sizes.ledgerOps / 10),
        sizes.ledgerWarmup / 4,
      ),
      sqliteReservePost: await benchSqliteLedger(sizes.ledgerOps, sizes.ledgerWarmup),
      auditAppend: await benchAuditAppend(sizes.ledgerOps, sizes.ledgerWarmup),
      floor: await benchDurabilityFloor(sizes.ledgerOps, Math.ceil(sizes.ledgerOps / 10), sizes.ledgerWarmup),
    };

    const adapters = await benchLedgerAdapters(sizes.adapterOps, progress);

    progress(`vault growth: ${sizes.growthMeasuredCalls} governed calls on a fresh vault`);
    const growth = {
      ...(await benchVaultGrowth(standIn.url, sizes.growthMeasuredCalls, sizes.growthVaultCalls, progress)),
      vaultCalls: sizes.growthVaultCalls,
      measuredCalls: sizes.growthMeasuredCalls,
    };

    const measured: Measured = { sequential, concurrent, ledger, adapters, growth };
    const result: BenchResult = {
      meta: {
        mode: flags.quick ? "quick" : "full",
        node: process.versions.node,
        platform: `${process.platform}-${process.arch}`,
        cpus: availableParallelism(),
        loadAverageAtStart,
        ...git,
        standInPid: standIn.pid,
        startedAt: startedAt.toISOString(),
        durationSec: (performance.now() - startMs) / 1000,
      },
      ...measured,
      goals: evaluateGoals(measured),
    };
    process.stdout.write(`\n${formatReport(result)}\n`);
    if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    process.off("SIGINT", stopOnSignal);
    process.off("SIGTERM", stopOnSignal);
    await standIn.stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
