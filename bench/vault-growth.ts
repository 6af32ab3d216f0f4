import { statSync } from "node:fs";
import type OpenAI from "openai";
import { trust } from "../src/adapters/trust.ts";
import type { TrustedClient } from "../src/adapters/trusted-client.ts";
import { createEngine } from "../src/core/create-engine.ts";
import { resolveVault } from "../src/core/vault.ts";
import { authorizeAndSettle } from "./ledger-alone.ts";
import type { LatencySummary } from "./stats.ts";
import { makeBenchVault } from "./temp-vault.ts";
import { type Call, governedCall, makeOpenAI, rawCall, runInterleaved, Side } from "./workload.ts";

const MEASURE_BLOCKS = 4;

export interface GrowthPoint {
  /** Governed calls already in the vault when the measurement began. */
  callsInVault: number;
  governed: LatencySummary;
  /** Raw calls interleaved with the governed ones. */
  raw: LatencySummary;
}

export interface GrowthResult {
  /** The first calls on a fresh vault. */
  before: GrowthPoint;
  /** The same vault once it holds `vaultCalls` calls. */
  after: GrowthPoint;
  /** A second fresh vault measured in the same blocks as `after`: the same-time, drift-free baseline. */
  freshControl: LatencySummary;
  /** governed p50 after ÷ governed p50 before: the plain before/after ratio, exposed to machine drift. */
  p50Ratio: number;
  /** governed p50 on the grown vault ÷ on the fresh control vault, measured side by side. */
  p50RatioSideBySide: number;
  ledgerDbBytes: number;
  ledgerWalBytes: number;
  eventsJsonlBytes: number;
  grownPerSec: number;
}

/**
 * Measures governed calls on a fresh vault, fills the same vault to `vaultCalls` calls through the
 * engine directly (the same ledger rows and audit lines an HTTP call leaves), then measures it again
 * with a new client set up exactly like the first, interleaved with a fresh control vault and raw
 * calls. Before and after are a minute apart on a shared machine, so the control, not the raw
 * calls, is what tells vault size from drift.
 */
export async function benchVaultGrowth(
  url: string,
  measuredCalls: number,
  vaultCalls: number,
  onProgress: (message: string) => void,
): Promise<GrowthResult> {
  const grown = makeBenchVault();
  const fresh = makeBenchVault();
  const raw = rawCall(makeOpenAI(url));
  try {
    const before = await measure(url, grown.base, undefined, raw, measuredCalls);
    const toGrow = Math.max(0, vaultCalls - measuredCalls);
    onProgress(`growing the vault by ${toGrow.toLocaleString("en-US")} calls through the engine`);
    const engine = await createEngine({ vaultBase: grown.base });
    const startNs = process.hrtime.bigint();
    try {
      for (let i = 0; i < toGrow; i++) await authorizeAndSettle(engine);
    } finally {
      await engine.close();
    }
    const grownPerSec = toGrow / (Number(process.hrtime.bigint() - startNs) / 1e9);
    onProgress(`measuring the grown vault next to a fresh one: ${measuredCalls} governed calls each`);
    const after = await measure(url, grown.base, fresh.base, raw, measuredCalls);
    const control = after.control ?? after.governed;
    const paths = resolveVault({ vaultBase: grown.base });
    return {
      before: { callsInVault: 0, governed: before.governed, raw: before.raw },
      after: { callsInVault: measuredCalls + toGrow, governed: after.governed, raw: after.raw },
      freshControl: control,
      p50Ratio: after.governed.p50Us / before.governed.p50Us,
      p50RatioSideBySide: after.governed.p50Us / control.p50Us,
      ledgerDbBytes: sizeOf(paths.ledger),
      ledgerWalBytes: sizeOf(`${paths.ledger}-wal`),
      eventsJsonlBytes: sizeOf(paths.auditLog),
      grownPerSec,
    };
  } finally {
    grown.cleanup();
    fresh.cleanup();
  }
}

/**
 * New trust() clients on the vault (and the control vault, if given), set up as in the sequential
 * section; `calls` governed calls on each and as many raw ones, interleaved in blocks; then the
 * clients are destroyed.
 */
async function measure(
  url: string,
  vaultBase: string,
  controlBase: string | undefined,
  raw: Call,
  calls: number,
): Promise<{ governed: LatencySummary; control: LatencySummary | undefined; raw: LatencySummary }> {
  const perBlock = Math.ceil(calls / MEASURE_BLOCKS);
  const capacity = perBlock * MEASURE_BLOCKS;
  const clients: TrustedClient<OpenAI>[] = [];
  try {
    const open = async (base: string): Promise<Side> => {
      const client = await trust(makeOpenAI(url), { vaultBase: base });
      clients.push(client);
      return new Side(governedCall(client), capacity);
    };
    const governed = await open(vaultBase);
    const control = controlBase === undefined ? undefined : await open(controlBase);
    const rawSide = new Side(raw, capacity);
    await runInterleaved(
      control ? [governed, control, rawSide] : [governed, rawSide],
      MEASURE_BLOCKS,
      perBlock,
    );
    return {
      governed: governed.samples.summary(),
      control: control?.samples.summary(),
      raw: rawSide.samples.summary(),
    };
  } finally {
    await Promise.all(clients.map((client) => client.destroy()));
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
