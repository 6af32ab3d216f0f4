import type { FloorResult } from "./durability-floor.ts";
import type { AdapterRate } from "./ledger-adapters.ts";
import type { OpsResult } from "./ledger-alone.ts";
import type { LatencySummary } from "./stats.ts";
import type { GrowthResult } from "./vault-growth.ts";
import type { ConcurrentResult, PairedConcurrent, PairedSequential } from "./workload.ts";

/** Targets from DESIGN.md's performance doctrine. */
export const GOALS = {
  sequentialP50RatioMax: 1.1,
  throughputRatioMin: 0.9,
  growthP50RatioMax: 1.1,
} as const;

export interface BenchResult {
  meta: {
    mode: "full" | "quick";
    node: string;
    platform: string;
    cpus: number;
    /** 1-minute load average when the run began: other work on the machine skews wall-clock numbers. */
    loadAverageAtStart: number;
    gitCommit: string;
    /** Uncommitted changes under src/ when the run began. */
    srcDirty: boolean;
    standInPid: number;
    startedAt: string;
    durationSec: number;
  };
  sequential: Measured["sequential"];
  concurrent: Measured["concurrent"];
  ledger: Measured["ledger"];
  adapters: Measured["adapters"];
  growth: Measured["growth"];
  goals: Goals;
}

export interface Goals {
  sequentialP50: Goal;
  throughput: Goal;
  growthP50: Goal;
}

export interface Measured {
  sequential: PairedSequential & { calls: number; blocks: number; ratios: Ratios; overheadP50Us: number };
  concurrent: PairedConcurrent & { throughputRatio: number; ratios: Ratios };
  ledger: {
    engineAuthorizeSettle: OpsResult;
    /** The same two steps with the CPU idle between them, as around a real call. */
    engineAfterIdle: OpsResult;
    /** The same two steps for a ~100 KiB conversation that grows by a message per call. */
    engineConversation: OpsResult;
    sqliteReservePost: OpsResult;
    auditAppend: OpsResult;
    /** The least any durable, multi-process, audited design does per call (no usertrust code). */
    floor: FloorResult;
  };
  adapters: AdapterRate[];
  growth: GrowthResult & { vaultCalls: number; measuredCalls: number };
}

export interface Ratios {
  p50: number;
  p99: number;
  mean: number;
}

export interface Goal {
  name: string;
  target: string;
  actual: number;
  met: boolean;
}

export function ratiosOf(governed: LatencySummary, raw: LatencySummary): Ratios {
  return {
    p50: governed.p50Us / raw.p50Us,
    p99: governed.p99Us / raw.p99Us,
    mean: governed.meanUs / raw.meanUs,
  };
}

export function evaluateGoals(m: Measured): Goals {
  return {
    sequentialP50: {
      name: "sequential: governed p50 / raw p50",
      target: `≤ ${GOALS.sequentialP50RatioMax.toFixed(2)}`,
      actual: m.sequential.ratios.p50,
      met: m.sequential.ratios.p50 <= GOALS.sequentialP50RatioMax,
    },
    throughput: {
      name: `${m.concurrent.inFlight} in flight: governed / raw calls/s`,
      target: `≥ ${GOALS.throughputRatioMin.toFixed(2)}`,
      actual: m.concurrent.throughputRatio,
      met: m.concurrent.throughputRatio >= GOALS.throughputRatioMin,
    },
    growthP50: {
      name: "vault growth: governed p50 grown / fresh vault, side by side",
      target: `≈ 1 (≤ ${GOALS.growthP50RatioMax.toFixed(2)})`,
      actual: m.growth.p50RatioSideBySide,
      met: m.growth.p50RatioSideBySide <= GOALS.growthP50RatioMax,
    },
  };
}

const us = (value: number): string => value.toFixed(1);
const times = (value: number): string => `${value.toFixed(3)}×`;
const whole = (value: number): string => Math.round(value).toLocaleString("en-US");
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** A plain-text table: first column left-aligned, the rest right-aligned. */
function table(title: string, header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join("  ")
      .trimEnd();
  const rule = widths.map((width) => "─".repeat(width)).join("  ");
  return [title, line(header), rule, ...rows.map(line)].join("\n");
}

function goalLine(goal: Goal): string {
  return `   goal: ${goal.name} ${goal.target} → ${times(goal.actual)} ${goal.met ? "met" : "MISSED"}`;
}

function sequentialTable(seq: Measured["sequential"]): string {
  const row = (name: string, s: PairedSequential["raw"]): string[] => [
    name,
    us(s.p50Us),
    us(s.p99Us),
    us(s.meanUs),
    us(s.cpuUsPerCall),
  ];
  const { raw, governed } = seq;
  return table(
    `1. Sequential: ${whole(seq.calls)} calls each side in ${seq.blocks} alternating blocks (µs)`,
    ["", "p50", "p99", "mean", "client CPU/call"],
    [
      row("raw", raw),
      row("governed", governed),
      [
        "governed / raw",
        times(seq.ratios.p50),
        times(seq.ratios.p99),
        times(seq.ratios.mean),
        times(governed.cpuUsPerCall / raw.cpuUsPerCall),
      ],
      [
        "governed − raw",
        us(seq.overheadP50Us),
        us(governed.p99Us - raw.p99Us),
        us(governed.meanUs - raw.meanUs),
        us(governed.cpuUsPerCall - raw.cpuUsPerCall),
      ],
    ],
  );
}

/** The client's time before the request reaches the stand-in and after its answer leaves it. */
function aroundServerTable(seq: Measured["sequential"]): string {
  const { raw, governed } = seq;
  const row = (name: string, s: PairedSequential["raw"]): string[] => [
    name,
    us(s.beforeServerP50Us),
    us(s.afterServerP50Us),
  ];
  return table(
    "   where the time goes, p50 µs (the stand-in stamps arrival and departure on the machine's clock)",
    ["", "call → request arrives", "answer leaves → call ends"],
    [
      row("raw", raw),
      row("governed", governed),
      [
        "governed − raw",
        us(governed.beforeServerP50Us - raw.beforeServerP50Us),
        us(governed.afterServerP50Us - raw.afterServerP50Us),
      ],
    ],
  );
}

function concurrentTable(conc: Measured["concurrent"]): string {
  const row = (name: string, c: ConcurrentResult): string[] => [
    name,
    whole(c.callsPerSec),
    us(c.p50Us),
    us(c.p99Us),
    us(c.cpuUsPerCall),
  ];
  return table(
    `2. ${conc.inFlight} in flight: ${whole(conc.raw.calls)} calls each side in alternating rounds`,
    ["", "calls/s", "p50 µs", "p99 µs", "client CPU/call µs"],
    [
      row("raw", conc.raw),
      row("governed", conc.governed),
      [
        "governed / raw",
        times(conc.throughputRatio),
        times(conc.ratios.p50),
        times(conc.ratios.p99),
        times(conc.governed.cpuUsPerCall / conc.raw.cpuUsPerCall),
      ],
    ],
  );
}

function ledgerTable(ledger: Measured["ledger"]): string {
  const row = (name: string, o: OpsResult): string[] => [
    name,
    whole(o.ops),
    whole(o.opsPerSec),
    us(o.perOp.p50Us),
    us(o.perOp.p99Us),
    us(o.perOp.meanUs),
  ];
  return table(
    "3. Ledger and audit chain alone: sequential loops, no HTTP (µs per op)",
    ["", "ops", "ops/s", "p50", "p99", "mean"],
    [
      row("engine.authorize + hold.settle", ledger.engineAuthorizeSettle),
      row("  the same, CPU idle ~1 ms before each step", ledger.engineAfterIdle),
      row("  the same, 100 KiB conversation + 1 new message", ledger.engineConversation),
      row("SqliteLedger reserve + post", ledger.sqliteReservePost),
      row("AuditChain.append", ledger.auditAppend),
      row("floor: 2 bare SQLite write transactions + 1 hashed line", ledger.floor.backToBack),
      row("  the same, CPU idle ~1 ms before each step", ledger.floor.afterIdle),
    ],
  );
}

/**
 * What the floor alone (no usertrust code) takes of the sequential goal's allowance: above 1, no
 * design that keeps the issue's durability and audit promises can meet the goal on this machine.
 */
function floorLine(seq: Measured["sequential"], floor: FloorResult): string {
  const allowanceUs = (GOALS.sequentialP50RatioMax - 1) * seq.raw.p50Us;
  return (
    `   the goal allows ${us(allowanceUs)} µs over raw p50; the floor alone (section 3) takes ` +
    `${us(floor.backToBack.perOp.p50Us)} µs back to back (${times(floor.backToBack.perOp.p50Us / allowanceUs)} of it), ` +
    `${us(floor.afterIdle.perOp.p50Us)} µs after idle (${times(floor.afterIdle.perOp.p50Us / allowanceUs)})`
  );
}

function adaptersTable(adapters: AdapterRate[]): string {
  const rate = (value: number | undefined): string => (value === undefined ? "-" : whole(value));
  const measured = table(
    "4. Ledger adapters: hold + settle (reserve + post) per second",
    ["", "sequential", "32 in flight", "+1 scoped budget"],
    adapters
      .filter((a) => a.skipped === undefined)
      .map((a) => [a.adapter, rate(a.sequentialPerSec), rate(a.concurrentPerSec), rate(a.scopedPerSec)]),
  );
  const skipped = adapters
    .filter((a) => a.skipped !== undefined)
    .map((a) => `   not measured: ${a.adapter}: ${a.skipped}`);
  return [measured, ...skipped].join("\n");
}

function growthTable(growth: Measured["growth"]): string {
  const row = (
    name: string,
    callsInVault: number,
    governed: LatencySummary,
    raw?: LatencySummary,
  ): string[] => [
    name,
    whole(callsInVault),
    us(governed.p50Us),
    us(governed.p99Us),
    raw === undefined ? "" : us(raw.p50Us),
  ];
  const { before, after } = growth;
  return [
    table(
      `5. Vault growth: ${whole(growth.measuredCalls)} governed calls on a fresh vault, and again once it holds ${whole(growth.vaultCalls)} calls (µs)`,
      ["", "calls in vault", "governed p50", "governed p99", "raw p50 (interleaved)"],
      [
        row("before: first calls", before.callsInVault, before.governed, before.raw),
        row("after", after.callsInVault, after.governed, after.raw),
        row("  fresh vault, same blocks as after", 0, growth.freshControl),
        ["after / before", "", times(growth.p50Ratio), "", times(after.raw.p50Us / before.raw.p50Us)],
        ["after / fresh vault, side by side", "", times(growth.p50RatioSideBySide), "", ""],
      ],
    ),
    `   vault filled at ${whole(growth.grownPerSec)} calls/s (engine, no HTTP); ` +
      `ledger.db ${mib(growth.ledgerDbBytes)}${growth.ledgerWalBytes > 0 ? ` + ${mib(growth.ledgerWalBytes)} WAL` : ""}, ` +
      `events.jsonl ${mib(growth.eventsJsonlBytes)} (${whole(growth.eventsJsonlBytes / growth.vaultCalls)} bytes a call)`,
  ].join("\n");
}

function goalsTable(goals: Goals): string {
  return table(
    "Goals (DESIGN.md, performance doctrine)",
    ["", "goal", "actual", ""],
    Object.values(goals).map((goal) => [
      goal.name,
      goal.target,
      times(goal.actual),
      goal.met ? "met" : "MISSED",
    ]),
  );
}

export function formatReport(r: BenchResult): string {
  const { meta } = r;
  const header =
    `usertrust bench (${meta.mode}) · node ${meta.node} · ${meta.cpus} CPUs · load ${meta.loadAverageAtStart.toFixed(2)} at start · ` +
    `${meta.gitCommit}${meta.srcDirty ? " + uncommitted src/" : ""} · ${meta.durationSec.toFixed(1)} s`;
  return [
    header,
    [
      sequentialTable(r.sequential),
      aroundServerTable(r.sequential),
      goalLine(r.goals.sequentialP50),
      floorLine(r.sequential, r.ledger.floor),
    ].join("\n"),
    [concurrentTable(r.concurrent), goalLine(r.goals.throughput)].join("\n"),
    ledgerTable(r.ledger),
    adaptersTable(r.adapters),
    [growthTable(r.growth), goalLine(r.goals.growthP50)].join("\n"),
    goalsTable(r.goals),
  ].join("\n\n");
}
