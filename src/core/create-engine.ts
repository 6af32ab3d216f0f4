import { existsSync } from "node:fs";
import { AuditChain } from "./audit/audit-chain.ts";
import type { EscalationHandler } from "./board/escalation.ts";
import { loadConfig, type TrustConfig, type TrustConfigInput, withOverrides } from "./config.ts";
import { Engine } from "./engine.ts";
import { ConfigError, LedgerUnavailableError } from "./errors.ts";
import { type Clock, type Ledger, systemClock } from "./ledger/ledger.ts";
import { openLedger } from "./ledger/open-ledger.ts";
import { initVault, resolveVault } from "./vault.ts";
import { VaultDatabase } from "./vault-database.ts";

export interface EngineOptions {
  /** Folder that holds `.usertrust/`; defaults to the working directory. */
  vaultBase?: string;
  /** An explicit config file, which must exist (`usertrust init --config FILE`); its folder becomes the vault. */
  configPath?: string;
  /** Budget in usertokens; overrides the config file's `budget`. */
  budget?: number;
  /** Plan tier; overrides the config file's `tier`. */
  tier?: TrustConfig["tier"];
  /**
   * Memory ledger instead of the durable one; also `USERTRUST_DRY_RUN=1|true|yes` when this is not
   * set. The audit chain is still written.
   */
  dryRun?: boolean;
  /** Who the audit events name as the actor when a request names none. */
  actor?: string;
  /** A ledger to use instead of the one the config selects. */
  ledger?: Ledger;
  clock?: Clock;
  /** Config fields that win over the vault's config file, e.g. `{ pii: "redact", enforcement: "warn" }`. */
  config?: Partial<TrustConfigInput>;
  /** Decides escalated board reviews ("allow" or "block"); without it `board.escalation` in the config does. */
  onEscalate?: EscalationHandler;
}

/**
 * Opens the vault, its ledger and its audit chain. The vault under `vaultBase` is created with
 * defaults when missing; an explicit `configPath` must name an existing file.
 */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  // A bad USERTRUST_DRY_RUN is refused before anything is created.
  const dryRunByEnv = options.dryRun === undefined ? dryRunFromEnv(process.env.USERTRUST_DRY_RUN) : false;
  const paths = resolveVault(options);
  if (!existsSync(paths.config)) {
    // A mistyped path would otherwise get a fresh default budget next to the user's real vault.
    if (options.configPath !== undefined) throw missingConfigFile(paths.config);
    initVault(paths);
  }
  const config = engineConfig(paths.config, options);
  const dryRun = options.dryRun ?? (dryRunByEnv || config.ledger.kind === "memory");
  const clock = options.clock;
  // One connection to ledger.db serves the ledger and the audit chain's head (also in dry-run,
  // so every process on the vault serializes its audit appends on the same lock).
  let database: VaultDatabase;
  try {
    database = new VaultDatabase(paths.ledger, config.durability);
  } catch (error) {
    throw new LedgerUnavailableError(`Cannot open ${paths.ledger}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // What this call opened is closed again if a later step (a broken policy file, say) fails.
  let ledger: Ledger | undefined;
  let audit: AuditChain | undefined;
  try {
    ledger =
      options.ledger ??
      (await openLedger(config, {
        database,
        dryRun,
        budgetUsertokens: config.budget,
        ...(clock ? { clock } : {}),
        source: options.config === undefined ? paths.config : `${paths.config} with the \`config\` option`,
      }));
    if (options.ledger) await options.ledger.setBudget(config.budget);
    audit = new AuditChain({ logPath: paths.auditLog, database, durability: config.durability });
    return new Engine(
      config,
      paths,
      ledger,
      audit,
      database,
      options.actor ?? "local",
      options.onEscalate,
      clock ?? systemClock,
    );
  } catch (error) {
    audit?.close();
    if (options.ledger === undefined) await ledger?.close().catch(() => {});
    database.close();
    throw error;
  }
}

/**
 * The vault's config file with the fields passed in code on top, each checked by the file's rules;
 * `budget` and `tier` win over the same fields in `config`. An error names the option it came from.
 */
function engineConfig(file: string, options: EngineOptions): TrustConfig {
  let config = loadConfig(file);
  if (options.config !== undefined) config = withOverrides(config, options.config, "the `config` option");
  if (options.budget !== undefined) {
    config = withOverrides(config, { budget: options.budget }, "the `budget` option");
  }
  if (options.tier !== undefined) config = withOverrides(config, { tier: options.tier }, "the `tier` option");
  return config;
}

function missingConfigFile(file: string): ConfigError {
  return new ConfigError(
    file,
    `configPath names no file here. Create it with \`usertrust init --config ${file}\` or correct ` +
      "the path; without configPath, <vaultBase>/.usertrust/ is used and created when missing.",
  );
}

const DRY_RUN_ON = ["1", "true", "yes"];
const DRY_RUN_OFF = ["", "0", "false"];

/**
 * USERTRUST_DRY_RUN read strictly: a value that is neither on nor off is refused, since reading
 * it as off would spend from the durable ledger in a job that meant to dry-run.
 */
function dryRunFromEnv(value: string | undefined): boolean {
  if (value === undefined) return false;
  const normalized = value.toLowerCase();
  if (DRY_RUN_ON.includes(normalized)) return true;
  if (DRY_RUN_OFF.includes(normalized)) return false;
  throw new ConfigError(
    "the USERTRUST_DRY_RUN environment variable",
    `is ${JSON.stringify(value)}; set it to 1, true or yes for a dry run (memory ledger), ` +
      "or to 0, false or empty (any case) for the ledger the config selects.",
  );
}
