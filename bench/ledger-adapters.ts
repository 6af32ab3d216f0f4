import { join } from "node:path";
import pg from "pg";
import type { BudgetAccount, Ledger } from "../src/core/ledger/ledger.ts";
import { MemoryLedger } from "../src/core/ledger/memory-ledger.ts";
import { PostgresLedger } from "../src/core/ledger/postgres-ledger.ts";
import { SqliteLedger } from "../src/core/ledger/sqlite-ledger.ts";
import { perSecond } from "./stats.ts";
import { BENCH_BUDGET_USERTOKENS, makeBenchDir } from "./temp-vault.ts";

/** Hold+settle per second for each ledger adapter, in one run so the numbers compare. */
export interface AdapterRate {
  adapter: string;
  /** Why it was not measured (e.g. no server), instead of a number. */
  skipped?: string;
  /** One reserve + post at a time. */
  sequentialPerSec?: number;
  /** 32 reserve + post pairs in flight, as a busy process would issue them. */
  concurrentPerSec?: number;
  /** Sequential, each hold also placed on one scoped budget account. */
  scopedPerSec?: number;
}

const IN_FLIGHT = 32;
const HOLD_USERTOKENS = 20;
const POST_USERTOKENS = 7;
const TIMEOUT_SECONDS = 600;
const POSTGRES_URL = process.env.USERTRUST_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

interface Candidate {
  name: string;
  /** Undefined when the adapter cannot run here, with the reason. */
  open(): Promise<{ ledger: Ledger; dispose(): Promise<void> } | string>;
}

async function measure(ledger: Ledger, ops: number, prefix: string, accounts: BudgetAccount[] = []) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    await ledger.reserve(`${prefix}-${i}`, HOLD_USERTOKENS, TIMEOUT_SECONDS, accounts);
    await ledger.post(`${prefix}-${i}`, POST_USERTOKENS);
  }
  return perSecond(ops, start, process.hrtime.bigint());
}

async function measureConcurrent(ledger: Ledger, ops: number, prefix: string) {
  let next = 0;
  const worker = async () => {
    while (next < ops) {
      const id = `${prefix}-${next++}`;
      await ledger.reserve(id, HOLD_USERTOKENS, TIMEOUT_SECONDS);
      await ledger.post(id, POST_USERTOKENS);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return perSecond(ops, start, process.hrtime.bigint());
}

async function postgresReachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return `no PostgreSQL at ${POSTGRES_URL} (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function candidates(): Candidate[] {
  const schema = `usertrust_bench_${process.pid}`;
  const list: Candidate[] = [
    {
      name: "memory",
      open: async () => ({
        ledger: new MemoryLedger({ budgetUsertokens: BENCH_BUDGET_USERTOKENS }),
        dispose: async () => {},
      }),
    },
    {
      name: "sqlite (durability normal)",
      open: async () => {
        const { dir, cleanup } = makeBenchDir("adapters");
        const ledger = new SqliteLedger({
          path: join(dir, "ledger.db"),
          budgetUsertokens: BENCH_BUDGET_USERTOKENS,
        });
        return { ledger, dispose: async () => cleanup() };
      },
    },
    {
      name: "postgres (127.0.0.1, pool 4)",
      open: async () => {
        const missing = await postgresReachable();
        if (missing !== undefined) return missing;
        const ledger = new PostgresLedger({
          url: POSTGRES_URL,
          schema,
          budgetUsertokens: BENCH_BUDGET_USERTOKENS,
        });
        return {
          ledger,
          dispose: async () => {
            const client = new pg.Client({ connectionString: POSTGRES_URL });
            await client.connect();
            await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
            await client.end();
          },
        };
      },
    },
    {
      name: "tigerbeetle (in-process model, not a cluster)",
      open: async () => {
        const { TigerBeetleLedger } = await import("../src/core/ledger/tigerbeetle-ledger.ts");
        const { TigerBeetleModel } = await import("../test/support/tigerbeetle-model.ts");
        const ledger = new TigerBeetleLedger({
          addresses: ["model"],
          clusterId: 0,
          client: new TigerBeetleModel(() => Date.now()),
          budgetUsertokens: BENCH_BUDGET_USERTOKENS,
        });
        return { ledger, dispose: async () => {} };
      },
    },
  ];
  const address = process.env.USERTRUST_TB_ADDRESS;
  list.push({
    name: "tigerbeetle (live cluster)",
    open: async () => {
      if (address === undefined) return "USERTRUST_TB_ADDRESS is not set";
      const { TigerBeetleLedger } = await import("../src/core/ledger/tigerbeetle-ledger.ts");
      const ledger = new TigerBeetleLedger({
        addresses: [address],
        clusterId: 0,
        walletId: `bench-${process.pid}-${Date.now()}`,
        budgetUsertokens: BENCH_BUDGET_USERTOKENS,
      });
      return { ledger, dispose: async () => {} };
    },
  });
  return list;
}

export async function benchLedgerAdapters(
  ops: number,
  progress: (line: string) => void,
): Promise<AdapterRate[]> {
  const rates: AdapterRate[] = [];
  for (const candidate of candidates()) {
    const opened = await candidate.open();
    if (typeof opened === "string") {
      rates.push({ adapter: candidate.name, skipped: opened });
      continue;
    }
    progress(`ledger adapter: ${candidate.name}`);
    const { ledger } = opened;
    try {
      await measure(ledger, Math.ceil(ops / 10), "warm");
      const sequentialPerSec = await measure(ledger, ops, "seq");
      const concurrentPerSec = await measureConcurrent(ledger, ops, "conc");
      const account = { id: `bench ${process.pid} day`, limitUsertokens: BENCH_BUDGET_USERTOKENS };
      const scopedPerSec = await measure(ledger, ops, "scoped", [account]);
      rates.push({ adapter: candidate.name, sequentialPerSec, concurrentPerSec, scopedPerSec });
    } finally {
      await ledger.close();
      await opened.dispose();
    }
  }
  return rates;
}
