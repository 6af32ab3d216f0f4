import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cliInProcess } from "../support/run-cli.ts";

const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempBase(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-init-config-"));
  temps.push(dir);
  return dir;
}

describe("usertrust init --config", () => {
  it("creates the vault around an explicit config file", async () => {
    const file = join(tempBase(), "vault", "team.config.json");
    const run = await cliInProcess("init", "--config", file);
    expect(run.code).toBe(0);
    expect(existsSync(file)).toBe(true);
  });

  it("fails on a folder instead of reporting success with a half-made vault", async () => {
    const base = tempBase();
    const vaultDir = join(base, ".usertrust");
    mkdirSync(vaultDir);
    const run = await cliInProcess("init", "--config", vaultDir);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("is a folder, not a config file");
    expect(run.stderr).toContain(join(vaultDir, "usertrust.config.json"));
    // Nothing is created in the folder's parent, which would have become the vault.
    expect(existsSync(join(base, "policies"))).toBe(false);
  });
});
