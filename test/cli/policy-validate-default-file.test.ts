import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { initVault, resolveVault, type VaultPaths } from "../../src/core/vault.ts";
import { cliInProcess } from "../support/run-cli.ts";

const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempBase(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-validate-default-"));
  temps.push(dir);
  return dir;
}

/** A vault whose default policy file is gone and whose config names it as `policies`. */
function vaultWithoutDefaultPolicy(policies: (paths: VaultPaths) => string): string {
  const base = tempBase();
  const paths = resolveVault({ vaultBase: base });
  initVault(paths);
  rmSync(paths.defaultPolicy);
  const config = JSON.parse(readFileSync(paths.config, "utf8")) as Record<string, unknown>;
  config.policies = policies(paths);
  writeFileSync(paths.config, `${JSON.stringify(config, null, 2)}\n`);
  return base;
}

async function engineOpens(base: string): Promise<boolean> {
  return createEngine({ vaultBase: base, dryRun: true }).then(
    async (engine) => {
      await engine.close();
      return true;
    },
    () => false,
  );
}

describe("`usertrust policy validate` and the engine on the optional default policy file", () => {
  const spellings: Array<[string, (paths: VaultPaths) => string]> = [
    ["./policies/default.yml", () => "./policies/default.yml"],
    ["its absolute path", (paths) => paths.defaultPolicy],
  ];
  for (const [spelling, policies] of spellings) {
    it(`agree that a missing default file spelt ${spelling} means no rules`, async () => {
      const base = vaultWithoutDefaultPolicy(policies);
      expect(await engineOpens(base)).toBe(true);
      const validate = await cliInProcess("policy", "validate", "--vault-base", base);
      expect(validate.code).toBe(0);
      expect(validate.stdout).toContain("no rules apply");
    });
  }

  it("agree that a missing file other than the default is an error", async () => {
    const base = vaultWithoutDefaultPolicy(() => "policies/team.yml");
    expect(await engineOpens(base)).toBe(false);
    expect((await cliInProcess("policy", "validate", "--vault-base", base)).code).toBe(1);
  });
});
