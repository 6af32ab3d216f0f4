import { isAbsolute, join } from "node:path";
import type { TrustConfig } from "../config.ts";
import type { VaultPaths } from "../vault.ts";

/**
 * The configured policy files and folders, relative to the vault; the default file may be absent,
 * so a vault created without one still starts, while a file the config names must exist.
 */
export function resolvePolicySources(
  config: TrustConfig,
  paths: VaultPaths,
): Array<{ path: string; optional: boolean }> {
  const named = typeof config.policies === "string" ? [config.policies] : config.policies;
  return named.map((path) => {
    const absolute = isAbsolute(path) ? path : join(paths.root, path);
    return { path: absolute, optional: absolute === paths.defaultPolicy };
  });
}
