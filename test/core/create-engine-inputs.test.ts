import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { makeTempVault } from "../support/temp-vault.ts";

const cleanups: Array<() => void> = [];
const savedDryRun = process.env.USERTRUST_DRY_RUN;
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  if (savedDryRun === undefined) delete process.env.USERTRUST_DRY_RUN;
  else process.env.USERTRUST_DRY_RUN = savedDryRun;
});

function emptyFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-engine-inputs-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("createEngine inputs", () => {
  it('refuses configPath "" (an explicit path that names no file) instead of opening <vaultBase>/.usertrust', async () => {
    // e.g. configPath: process.env.USERTRUST_CONFIG ?? "" with the variable set but empty.
    const vault = makeTempVault({ budget: 777 });
    cleanups.push(vault.cleanup);
    const outcome = await createEngine({ vaultBase: vault.base, configPath: "", dryRun: true }).then(
      async (engine) => {
        const opened = engine.paths.config;
        await engine.close();
        return `opened ${opened}`;
      },
      (error: unknown) => error,
    );
    expect(outcome).toMatchObject({ code: "CONFIG_INVALID" });
  });

  it("refuses a bad USERTRUST_DRY_RUN before it creates a vault with a default budget", async () => {
    const base = emptyFolder();
    process.env.USERTRUST_DRY_RUN = "maybe";
    await expect(createEngine({ vaultBase: base })).rejects.toThrow("USERTRUST_DRY_RUN");
    // Today the refusal comes after initVault: .usertrust/ with a 50,000 UT default config is left behind.
    expect(existsSync(join(base, ".usertrust"))).toBe(false);
  });
});
