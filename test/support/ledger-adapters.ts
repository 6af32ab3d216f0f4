import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock, Ledger } from "../../src/core/ledger/ledger.ts";
import { MemoryLedger } from "../../src/core/ledger/memory-ledger.ts";
import { PostgresLedger } from "../../src/core/ledger/postgres-ledger.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import { TigerBeetleLedger } from "../../src/core/ledger/tigerbeetle-ledger.ts";
import { dropSchema, requirePostgres, TEST_POSTGRES_URL, uniqueSchemaName } from "./postgres-test-server.ts";
import { TigerBeetleModel } from "./tigerbeetle-model.ts";

/**
 * Every ledger adapter, as the shared suites (conformance, properties, budget accounts) open it.
 * Each `open` gives a ledger on a store of its own (a new file, wallet or cluster), so tests share
 * nothing; the suite closes what it opened.
 */
export interface LedgerAdapter {
  name: string;
  open(options: { budgetUsertokens: number; clock: Clock }): Ledger;
  /**
   * The store keeps real time of its own (a live TigerBeetle cluster): the test's clock cannot
   * expire its holds, so cases that move that clock past a hold's timeout skip it.
   */
  keepsOwnTime?: boolean;
  /** Once before this adapter's tests, e.g. to check that its server is there. */
  setUp?(): Promise<void>;
  tearDown?(): Promise<void>;
}

let count = 0;
function next(prefix: string): string {
  count += 1;
  return `${prefix}-${count}`;
}

function sqliteAdapter(): LedgerAdapter {
  let dir = "";
  return {
    name: "SqliteLedger",
    open: ({ budgetUsertokens, clock }) =>
      new SqliteLedger({ path: join(dir, `${next("ledger")}.sqlite`), budgetUsertokens, clock }),
    setUp: async () => {
      dir = mkdtempSync(join(tmpdir(), "usertrust-ledger-"));
    },
    tearDown: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function postgresAdapter(): LedgerAdapter {
  const schema = uniqueSchemaName();
  return {
    name: "PostgresLedger",
    open: ({ budgetUsertokens, clock }) =>
      new PostgresLedger({
        url: TEST_POSTGRES_URL,
        schema,
        walletId: next("wallet"),
        budgetUsertokens,
        clock,
      }),
    setUp: requirePostgres,
    tearDown: () => dropSchema(schema),
  };
}

/** A fresh list for one test file: each adapter's setUp/tearDown owns that file's stores. */
export function ledgerAdapters(): LedgerAdapter[] {
  return [
    { name: "MemoryLedger", open: (options) => new MemoryLedger(options) },
    sqliteAdapter(),
    postgresAdapter(),
    {
      name: "TigerBeetleLedger (model)",
      open: ({ budgetUsertokens, clock }) =>
        new TigerBeetleLedger({
          addresses: ["model"],
          clusterId: 0,
          budgetUsertokens,
          clock,
          client: new TigerBeetleModel(clock),
        }),
    },
    ...tigerBeetleLiveAdapters(),
  ];
}

/**
 * The live cluster at USERTRUST_TB_ADDRESS (cluster USERTRUST_TB_CLUSTER, default 0), when set.
 * Each open gets a wallet of its own. The cluster keeps its own time, so the ledger judges expiry
 * by the system clock; the model runs the cases that move the test's clock past a timeout.
 */
function tigerBeetleLiveAdapters(): LedgerAdapter[] {
  const address = process.env.USERTRUST_TB_ADDRESS;
  if (address === undefined || address === "") return [];
  const run = `${process.pid}-${Date.now()}`;
  return [
    {
      name: "TigerBeetleLedger (live)",
      keepsOwnTime: true,
      open: ({ budgetUsertokens }) =>
        new TigerBeetleLedger({
          addresses: [address],
          clusterId: BigInt(process.env.USERTRUST_TB_CLUSTER ?? "0"),
          walletId: next(`suite-${run}`),
          budgetUsertokens,
        }),
    },
  ];
}
