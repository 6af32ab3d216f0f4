import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { defaultConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";

export const VAULT_DIR_NAME = ".usertrust";
export const CONFIG_FILE_NAME = "usertrust.config.json";

/** Where everything of one vault lives. All paths are absolute. */
export interface VaultPaths {
  root: string;
  config: string;
  ledger: string;
  auditDir: string;
  auditLog: string;
  /** The SQLite file that records the audit chain's head: the ledger database. */
  auditHead: string;
  policiesDir: string;
  defaultPolicy: string;
}

/**
 * `configPath` pins the vault to the folder holding that file; otherwise `<vaultBase>/.usertrust`.
 * A `configPath` naming a folder is refused: its parent would become the vault, half made.
 */
export function resolveVault(options: {
  vaultBase?: string | undefined;
  configPath?: string | undefined;
}): VaultPaths {
  const configFile = options.configPath === undefined ? undefined : configFilePath(options.configPath);
  const root = configFile
    ? dirname(configFile)
    : join(resolve(options.vaultBase ?? process.cwd()), VAULT_DIR_NAME);
  const auditDir = join(root, "audit");
  return {
    root,
    config: configFile ?? join(root, CONFIG_FILE_NAME),
    ledger: join(root, "ledger.db"),
    auditDir,
    auditLog: join(auditDir, "events.jsonl"),
    auditHead: join(root, "ledger.db"),
    policiesDir: join(root, "policies"),
    defaultPolicy: join(root, "policies", "default.yml"),
  };
}

function configFilePath(configPath: string): string {
  if (configPath === "") {
    throw new ConfigError(
      "configPath",
      "is empty; pass the config file's path, or leave configPath out to use <vaultBase>/.usertrust/",
    );
  }
  const file = resolve(configPath);
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ConfigError(
      file,
      `is a folder, not a config file; pass the config file's path (--config or configPath), e.g. ${join(file, CONFIG_FILE_NAME)}`,
    );
  }
  return file;
}

/** The three rules the spec ships by default, as a user would write them. */
export const DEFAULT_POLICY_YAML = `# usertrust policy rules: every rule whose conditions ALL match applies.
# effect: deny | warn; enforcement: hard (blocks) | soft (warns only).
- name: zero-budget
  effect: deny
  enforcement: hard
  severity: critical
  priority: 10
  conditions:
    - field: budget
      operator: eq
      value: 0

- name: high-cost
  effect: warn
  enforcement: soft
  severity: medium
  priority: 50
  conditions:
    - field: estimatedCost
      operator: gt
      value: 1000

- name: budget-exhausted
  effect: deny
  enforcement: hard
  severity: high
  priority: 20
  conditions:
    - field: budgetRemainingAfterEstimate
      operator: lt
      value: 0
`;

export interface InitResult {
  paths: VaultPaths;
  created: string[];
  kept: string[];
}

/** Creates whatever of the vault is missing; files that exist are never overwritten. */
export function initVault(paths: VaultPaths, options: { budget?: number } = {}): InitResult {
  const created: string[] = [];
  const kept: string[] = [];
  for (const dir of [paths.root, paths.auditDir, paths.policiesDir]) mkdirSync(dir, { recursive: true });
  const files: Array<[string, () => string]> = [
    [paths.config, () => `${JSON.stringify(defaultConfig(options.budget), null, 2)}\n`],
    [paths.defaultPolicy, () => DEFAULT_POLICY_YAML],
    // The chain starts empty; its first event links to GENESIS_HASH.
    [paths.auditLog, () => ""],
  ];
  for (const [file, content] of files) {
    if (existsSync(file)) {
      kept.push(file);
      continue;
    }
    try {
      writeFileSync(file, content(), { flag: "wx" });
      created.push(file);
    } catch (error) {
      // Another process created it between our check and our write: theirs stands.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      kept.push(file);
    }
  }
  return { paths, created, kept };
}
