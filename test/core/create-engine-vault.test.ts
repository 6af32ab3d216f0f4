import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/core/config.ts";
import { createEngine, type EngineOptions } from "../../src/core/create-engine.ts";
import { ConfigError } from "../../src/core/errors.ts";
import { MemoryLedger } from "../../src/core/ledger/memory-ledger.ts";
import { initVault, resolveVault } from "../../src/core/vault.ts";

const temps: string[] = [];

afterEach(() => {
  vi.unstubAllEnvs();
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempBase(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-create-engine-"));
  temps.push(dir);
  return dir;
}

/** "dry-run" or "durable ledger" when the engine opens, the error when it is refused. */
async function ledgerChosen(options: EngineOptions): Promise<string | unknown> {
  return createEngine(options).then(
    async (engine) => {
      const dry = engine.ledger instanceof MemoryLedger;
      await engine.close();
      return dry ? "dry-run" : "durable ledger";
    },
    (error: unknown) => error,
  );
}

describe("createEngine's vault", () => {
  it("creates the vault with defaults under vaultBase when it is missing", async () => {
    const base = tempBase();
    expect(await ledgerChosen({ vaultBase: base, dryRun: true })).toBe("dry-run");
    expect(existsSync(join(base, ".usertrust", "usertrust.config.json"))).toBe(true);
  });

  it("refuses an explicit configPath that does not exist instead of writing a default config there", async () => {
    const base = tempBase();
    const paths = resolveVault({ vaultBase: base });
    initVault(paths, { budget: 1_000 });
    // A typo in the file name: the user's vault (budget 1,000) sits right next to it.
    const typo = join(paths.root, "usertrust.confg.json");
    const error = await ledgerChosen({ configPath: typo, dryRun: true });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`usertrust init --config ${typo}`);
    expect(existsSync(typo)).toBe(false);
    expect(loadConfig(paths.config).budget).toBe(1_000);
  });

  it("refuses a configPath that names a folder, asking for the file's path", async () => {
    const folder = join(tempBase(), ".usertrust");
    mkdirSync(folder);
    const error = await ledgerChosen({ configPath: folder, dryRun: true });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain("is a folder, not a config file");
    expect((error as ConfigError).message).toContain(join(folder, "usertrust.config.json"));
  });
});

describe("USERTRUST_DRY_RUN", () => {
  for (const value of ["1", "true", "TRUE", "yes", "Yes"]) {
    it(`selects the memory ledger for USERTRUST_DRY_RUN=${value}`, async () => {
      vi.stubEnv("USERTRUST_DRY_RUN", value);
      expect(await ledgerChosen({ vaultBase: tempBase() })).toBe("dry-run");
    });
  }

  for (const value of ["", "0", "false", "FALSE"]) {
    it(`keeps the durable ledger for USERTRUST_DRY_RUN=${JSON.stringify(value)}`, async () => {
      vi.stubEnv("USERTRUST_DRY_RUN", value);
      expect(await ledgerChosen({ vaultBase: tempBase() })).toBe("durable ledger");
    });
  }

  it("refuses any other value, naming the variable and the values it takes", async () => {
    // Read as off, a typo would spend from the durable ledger in a job meant to dry-run.
    vi.stubEnv("USERTRUST_DRY_RUN", "on");
    const error = await ledgerChosen({ vaultBase: tempBase() });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('USERTRUST_DRY_RUN environment variable: is "on"');
    expect((error as ConfigError).message).toContain("1, true or yes");
  });

  it("is not read when the dryRun option decides", async () => {
    vi.stubEnv("USERTRUST_DRY_RUN", "on");
    expect(await ledgerChosen({ vaultBase: tempBase(), dryRun: false })).toBe("durable ledger");
  });
});
