import { existsSync } from "node:fs";
import { type BudgetReport, budgetReport } from "../core/budgets/budget-report.ts";
import { percentOf } from "../core/budgets/scoped-budgets.ts";
import { loadConfig, type TrustConfig } from "../core/config.ts";
import type { Ledger, LedgerBalance } from "../core/ledger/ledger.ts";
import { MemoryLedger } from "../core/ledger/memory-ledger.ts";
import { openLedger, selectedLedger } from "../core/ledger/open-ledger.ts";
import { hasSqliteBudget } from "../core/ledger/sqlite-statements.ts";
import type { VaultPaths } from "../core/vault.ts";
import { EXIT_OK, EXIT_USAGE, type Output } from "./cli-io.ts";

/**
 * `usertrust status`, `usertrust budget` and the budget `usertrust policy test` decides with: what
 * the configured ledger holds for this vault.
 */

export async function status(
  paths: VaultPaths,
  json: boolean,
  io: { out: Output; err: Output },
): Promise<number> {
  const config = loadConfig(paths.config);
  const ledger = await openVaultLedger(paths, config);
  if (ledger === undefined) {
    io.err.write(
      `usertrust status: ${noLedgerYet(paths, config)}; ` +
        "make a governed call without dryRun first, or see the config's budgets with `usertrust budget`.\n",
    );
    return EXIT_USAGE;
  }
  try {
    const balance = await ledger.balance();
    const kind = selectedLedger(config).kind;
    if (json) io.out.write(`${JSON.stringify({ vault: paths.root, ledger: kind, ...balance })}\n`);
    else {
      io.out.write(
        `Vault ${paths.root} (${ledgerLabel(kind)})\n` +
          `  budget    ${formatUt(balance.budgetUsertokens)}\n` +
          `  spent     ${formatUt(balance.postedUsertokens)}\n` +
          `  held      ${formatUt(balance.pendingUsertokens)}\n` +
          `  remaining ${formatUt(balance.remainingUsertokens)}\n`,
      );
    }
    return EXIT_OK;
  } finally {
    await ledger.close();
  }
}

export async function budgets(
  paths: VaultPaths,
  json: boolean,
  io: { out: Output; err: Output },
): Promise<number> {
  const config = loadConfig(paths.config);
  const now = Date.now();
  const ledger = await ledgerOrConfig(paths, config);
  let report: BudgetReport;
  try {
    report = await budgetReport(ledger, config, now);
  } finally {
    await ledger.close();
  }
  if (json) {
    const at = new Date(now).toISOString();
    const kind = selectedLedger(config).kind;
    io.out.write(`${JSON.stringify({ vault: paths.root, ledger: kind, at, budgets: report })}\n`);
    return EXIT_OK;
  }
  const rows = report.map((line) => [
    line.name,
    formatCount(line.limitUsertokens),
    formatCount(line.spentUsertokens),
    formatCount(line.heldUsertokens),
    formatCount(line.remainingUsertokens),
    line.limitUsertokens === 0 ? "-" : `${percentOf(line.spentUsertokens, line.limitUsertokens)}%`,
    line.resetsAt ?? "never",
  ]);
  io.out.write(
    `Budgets of ${paths.root} (${ledgerLabel(selectedLedger(config).kind)}; usertokens, 1 UT = $0.0001)\n`,
  );
  io.out.write(formatTable(["budget", "limit", "spent", "held", "remaining", "used", "resets"], rows));
  return EXIT_OK;
}

/**
 * The vault's balance for `usertrust policy test`: the ledger's numbers, or before it has any the
 * config's budget with nothing spent; none without a vault.
 */
export async function vaultBalance(
  paths: VaultPaths,
): Promise<{ config: TrustConfig; balance: LedgerBalance } | undefined> {
  if (!existsSync(paths.config)) return undefined;
  const config = loadConfig(paths.config);
  const ledger = await ledgerOrConfig(paths, config);
  try {
    return { config, balance: await ledger.balance() };
  } finally {
    await ledger.close();
  }
}

/**
 * The ledger the config selects, or undefined while it holds no budget for this vault: an embedded
 * vault with no ledger.db yet, or one that holds only the audit chain's head (dry-run calls keep
 * their money in memory); a shared ledger whose wallet no governed call has created yet (asked
 * without creating its schema, which a read-only command must not). Reading the ledger there would
 * give a budget of 0, which no config set.
 */
async function openVaultLedger(paths: VaultPaths, config: TrustConfig): Promise<Ledger | undefined> {
  if (selectedLedger(config).kind === "sqlite" && !hasSqliteBudget(paths.ledger)) return undefined;
  const ledger = await openLedger(config, { database: paths.ledger, dryRun: false, source: paths.config });
  let hasWallet: boolean;
  try {
    hasWallet = ledger.hasWallet === undefined || (await ledger.hasWallet());
  } catch (error) {
    await ledger.close();
    throw error;
  }
  if (hasWallet) return ledger;
  await ledger.close();
  return undefined;
}

/** Why there is no ledger to read yet, naming where it will be. */
function noLedgerYet(paths: VaultPaths, config: TrustConfig): string {
  const ledger = selectedLedger(config);
  if (ledger.kind === "postgres") {
    return `the PostgreSQL ledger (schema "${ledger.schema}") holds no budget for this vault yet`;
  }
  return `no ledger at ${paths.ledger} yet (dry-run calls keep none)`;
}

/** The vault's ledger, or before it has one a memory ledger with the config's budget and nothing spent. */
async function ledgerOrConfig(paths: VaultPaths, config: TrustConfig): Promise<Ledger> {
  return (await openVaultLedger(paths, config)) ?? new MemoryLedger({ budgetUsertokens: config.budget });
}

/** Which ledger the numbers come from; a memory vault keeps nothing between runs, so it says so. */
function ledgerLabel(kind: string): string {
  return kind === "memory" ? "memory ledger: nothing is kept between runs" : `${kind} ledger`;
}

function formatCount(usertokens: number): string {
  return usertokens.toLocaleString("en-US");
}

/** Left-aligned first column, right-aligned numbers, two spaces between columns. */
function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  return all
    .map((row) =>
      row
        .map((cell, column) =>
          column === 0 || column === row.length - 1
            ? cell.padEnd(widths[column] ?? 0)
            : cell.padStart(widths[column] ?? 0),
        )
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `  ${line}\n`)
    .join("");
}

function formatUt(usertokens: number): string {
  return `${usertokens.toLocaleString("en-US")} UT ($${(usertokens / 10_000).toFixed(4)})`;
}
