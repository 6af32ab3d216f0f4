import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine, type EngineOptions } from "../../src/core/create-engine.ts";
import { makeUsage } from "../../src/core/usage.ts";
import { initVault, resolveVault, type VaultPaths } from "../../src/core/vault.ts";
import { cliInProcess, usertrust } from "../support/run-cli.ts";
import { writeConfig } from "../support/temp-vault.ts";

const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempBase(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-run-cli-"));
  temps.push(dir);
  return dir;
}

const cli = cliInProcess;

/** A vault with a budget of 50,000 UT in its config and no call made yet. */
function vault(): { base: string; paths: VaultPaths } {
  const base = tempBase();
  const paths = resolveVault({ vaultBase: base });
  initVault(paths, { budget: 50_000 });
  return { base, paths };
}

/** Governs one small call on the vault at `base`, settling it. */
async function governOneCall(base: string, options: Omit<EngineOptions, "vaultBase"> = {}): Promise<void> {
  const engine = await createEngine({ vaultBase: base, ...options });
  const hold = await engine.authorize({
    provider: "openai",
    model: "gpt-4o-mini",
    promptParts: ["Hello"],
    maxOutputTokens: 64,
  });
  await hold.settle(makeUsage({ inputTokens: 5, outputTokens: 10 }));
  await engine.close();
}

/** A vault whose only call ran in dry-run: its ledger.db holds only the audit chain's head. */
async function dryRunVault(): Promise<{ base: string; paths: VaultPaths }> {
  const made = vault();
  await governOneCall(made.base, { dryRun: true });
  return made;
}

function tablesOf(file: string): string[] {
  const database = new DatabaseSync(file, { readOnly: true });
  try {
    const rows = database.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    return rows.map((row) => String(row.name)).sort();
  } finally {
    database.close();
  }
}

describe("`usertrust verify`", () => {
  it("exits 2 naming the folder when there is no vault there, as `status` does, never OK", async () => {
    const missing = join(tempBase(), "typo-in-path");
    const status = await usertrust("status", "--vault-base", missing);
    expect(status.code).toBe(2);

    const verify = await usertrust("verify", "--vault-base", missing);
    expect(verify.code).toBe(2);
    expect(verify.stdout).toBe("");
    expect(verify.stderr).toContain(`usertrust verify: no vault at ${join(missing, ".usertrust")}`);
    expect(verify.stderr).toContain("usertrust init");

    const json = await cli("verify", "--json", "--config", join(missing, "usertrust.config.json"));
    expect(json).toMatchObject({ code: 2, stdout: "" });
  });

  it("still verifies the audit log of a vault whose config file is gone", async () => {
    const { base, paths } = await dryRunVault();
    rmSync(paths.config);
    const run = await cli("verify", "--vault-base", base);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK: 1 events verified/);
  });
});

describe("`usertrust status`, `budget` and `policy test` on a vault used only in dry-run", () => {
  it("status says there is no ledger yet (exit 2), as before any call, instead of a budget of 0", async () => {
    const { base, paths } = await dryRunVault();
    const run = await cli("status", "--json", "--vault-base", base);
    expect(run).toMatchObject({ code: 2, stdout: "" });
    expect(run.stderr).toContain(`no ledger at ${paths.ledger} yet`);
  });

  it("budget reads the config's budgets with nothing spent", async () => {
    const { base } = await dryRunVault();
    const run = await cli("budget", "--json", "--vault-base", base);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { budgets: Array<Record<string, unknown>> };
    expect(report.budgets).toEqual([
      expect.objectContaining({ limitUsertokens: 50_000, spentUsertokens: 0, heldUsertokens: 0 }),
    ]);
  });

  it("policy test puts the config's budget into the request, so zero-budget does not deny", async () => {
    const { base } = await dryRunVault();
    const args = ["policy", "test", "--vault-base", base, "--model", "gpt-4o-mini", "--cost", "10"];
    const run = await cli(...args, "--json");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { decision: string; context: Record<string, unknown> };
    expect(result.context).toMatchObject({
      budget: 50_000,
      budgetRemaining: 50_000,
      budgetRemainingAfterEstimate: 49_990,
    });
    expect(result.decision).toBe("allow");
    expect((await cli(...args)).stdout).not.toContain("zero-budget");
  });

  it("leaves ledger.db as it was, so the chain verifies and the first real call sets the budget", async () => {
    const { base, paths } = await dryRunVault();
    const before = tablesOf(paths.ledger);
    await cli("status", "--vault-base", base);
    await cli("budget", "--vault-base", base);
    await cli("policy", "test", "--vault-base", base, "--model", "m", "--cost", "1");
    expect(tablesOf(paths.ledger)).toEqual(before);
    expect((await cli("verify", "--vault-base", base)).code).toBe(0);

    await governOneCall(base);
    const status = await cli("status", "--json", "--vault-base", base);
    expect(status.code).toBe(0);
    const balance = JSON.parse(status.stdout) as { budgetUsertokens: number; postedUsertokens: number };
    expect(balance.budgetUsertokens).toBe(50_000);
    expect(balance.postedUsertokens).toBeGreaterThan(0);
  });

  it("reads a memory-ledger vault's budget from its config, though ledger.db exists", async () => {
    const { base, paths } = vault();
    writeConfig(paths, { budget: 50_000, ledger: { kind: "memory" } });
    await governOneCall(base);
    const status = await cli("status", "--json", "--vault-base", base);
    expect(JSON.parse(status.stdout)).toMatchObject({ ledger: "memory", budgetUsertokens: 50_000 });
    const policy = await cli("policy", "test", "--json", "--vault-base", base, "--model", "m", "--cost", "1");
    expect(JSON.parse(policy.stdout)).toMatchObject({ decision: "allow", context: { budget: 50_000 } });
  });
});
