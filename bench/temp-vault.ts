import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initVault, resolveVault, type VaultPaths } from "../src/core/vault.ts";
import { writeConfig } from "../test/support/temp-vault.ts";

/** Far above what any run can spend, so no call is ever refused for budget. */
export const BENCH_BUDGET_USERTOKENS = 1e12;

const created = new Set<string>();

/**
 * A temp folder named `usertrust-bench-*`, removed by `cleanup`, or at the latest when the process
 * exits (including `process.exit` from a signal handler), so an interrupted run leaves nothing behind.
 */
export function makeBenchDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `usertrust-bench-${label}-`));
  created.add(dir);
  return {
    dir,
    cleanup: () => {
      created.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh vault (default durable SQLite ledger) whose config allows BENCH_BUDGET_USERTOKENS. */
export function makeBenchVault(): { base: string; paths: VaultPaths; cleanup: () => void } {
  const { dir, cleanup } = makeBenchDir("vault");
  const paths = resolveVault({ vaultBase: dir });
  initVault(paths);
  writeConfig(paths, { budget: BENCH_BUDGET_USERTOKENS });
  return { base: dir, paths, cleanup };
}

export function removeBenchDirs(): void {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
  created.clear();
}

process.on("exit", removeBenchDirs);
