import type { TrustConfig } from "../config.ts";
import { ConfigError } from "../errors.ts";
import type { VaultDatabase } from "../vault-database.ts";
import type { Clock, Ledger } from "./ledger.ts";
import { MemoryLedger } from "./memory-ledger.ts";
import { PostgresLedger } from "./postgres-ledger.ts";
import { SqliteLedger } from "./sqlite-ledger.ts";

export interface OpenLedgerOptions {
  /** The vault's ledger.db connection (shared with the audit chain's head), or its path to open alone. */
  database: VaultDatabase | string;
  /** Memory ledger whatever the config says (dryRun). */
  dryRun: boolean;
  /** Sets the budget; without it the stored one is read and nothing is written (`usertrust budget`). */
  budgetUsertokens?: number;
  clock?: Clock;
  /** Where the config came from, for errors. */
  source: string;
}

/**
 * The ledger the config selects. The spec's `tigerbeetle.addresses`, once filled in, selects
 * TigerBeetle on its own (the config `usertrust init` writes names `ledger: { kind: "sqlite" }` and
 * empty addresses, so filling them in is the spec's way of switching); `ledger.kind` "postgres" or
 * "memory" still wins.
 */
export function selectedLedger(config: TrustConfig): TrustConfig["ledger"] {
  if (config.ledger.kind === "sqlite" && config.tigerbeetle.addresses.length > 0)
    return { kind: "tigerbeetle" };
  return config.ledger;
}

/**
 * Opens the ledger the config selects. The PostgreSQL and TigerBeetle adapters load their client
 * packages (`pg`, `tigerbeetle-node`) only when they are configured, on first use.
 */
export async function openLedger(config: TrustConfig, options: OpenLedgerOptions): Promise<Ledger> {
  const { budgetUsertokens, clock } = options;
  const common = {
    ...(budgetUsertokens === undefined ? {} : { budgetUsertokens }),
    ...(clock === undefined ? {} : { clock }),
  };
  const ledger: TrustConfig["ledger"] = options.dryRun ? { kind: "memory" } : selectedLedger(config);
  switch (ledger.kind) {
    case "memory":
      return new MemoryLedger({ budgetUsertokens: budgetUsertokens ?? config.budget, ...common });
    case "sqlite":
      return typeof options.database === "string"
        ? new SqliteLedger({ path: options.database, ...common })
        : new SqliteLedger({ database: options.database, ...common });
    case "postgres":
      return new PostgresLedger({ url: ledger.url, schema: ledger.schema, ...common });
    case "tigerbeetle": {
      const addresses = ledger.addresses ?? config.tigerbeetle.addresses;
      if (addresses.length === 0) {
        throw new ConfigError(
          options.source,
          'the TigerBeetle ledger needs the cluster\'s addresses: set `ledger.addresses` (e.g. ["3000"]) or `tigerbeetle.addresses`',
          { field: "ledger.addresses" },
        );
      }
      // The adapter module is loaded only when configured; it loads tigerbeetle-node on first use.
      const { TigerBeetleLedger } = await import("./tigerbeetle-ledger.ts");
      return new TigerBeetleLedger({
        addresses,
        clusterId: ledger.clusterId ?? config.tigerbeetle.clusterId,
        ...common,
      });
    }
  }
}
