import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig, type TrustConfig } from "../../src/core/config.ts";
import { initVault, resolveVault, type VaultPaths } from "../../src/core/vault.ts";

/** A fresh vault in a temp folder, with config fields overridden; removed by `cleanup`. */
export function makeTempVault(config: Partial<TrustConfig> = {}): {
  base: string;
  paths: VaultPaths;
  cleanup: () => void;
} {
  const base = mkdtempSync(join(tmpdir(), "usertrust-test-"));
  const paths = resolveVault({ vaultBase: base });
  initVault(paths);
  writeConfig(paths, config);
  return { base, paths, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

export function writeConfig(paths: VaultPaths, config: Partial<TrustConfig>): void {
  writeFileSync(paths.config, `${JSON.stringify({ ...defaultConfig(), ...config }, null, 2)}\n`);
}
