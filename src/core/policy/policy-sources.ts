import { resolve } from "node:path";
import type { TrustConfig } from "../config.ts";
import type { VaultPaths } from "../vault.ts";

/**
 * The configured policy files and folders, relative to the vault; the default file may be absent,
 * so a vault created without one still starts, while a file the config names must exist. A running
 * PolicySet allows that only until the default file first exists: removed later, it is a broken edit.
 */
export function resolvePolicySources(
  config: TrustConfig,
  paths: VaultPaths,
): Array<{ path: string; optional: boolean }> {
  const named = typeof config.policies === "string" ? [config.policies] : config.policies;
  return named.map((path) => {
    // Normalized, so "./policies/default.yml" or an absolute spelling is still the default file.
    const absolute = resolve(paths.root, path);
    return { path: absolute, optional: absolute === paths.defaultPolicy };
  });
}
