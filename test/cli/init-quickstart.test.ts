import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cliInProcess } from "../support/run-cli.ts";

/*
 * usertrust-quickstart.txt lines 268-272: "npx usertrust init — This creates the .usertrust/
 * directory with the default config, policy rules, and audit chain." README's vault tree (under
 * "npx usertrust init creates .usertrust/") lists audit/events.jsonl as well.
 */

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("quickstart: npx usertrust init", () => {
  it("creates the default config, the policy rules and the audit chain (audit/events.jsonl)", async () => {
    const base = mkdtempSync(join(tmpdir(), "usertrust-init-"));
    temps.push(base);
    const run = await cliInProcess("init", "--vault-base", base);
    expect(run.code).toBe(0);
    const vault = join(base, ".usertrust");
    expect(existsSync(join(vault, "usertrust.config.json"))).toBe(true);
    expect(existsSync(join(vault, "policies", "default.yml"))).toBe(true);
    // The audit chain the quickstart promises, empty until the first call.
    expect(existsSync(join(vault, "audit", "events.jsonl"))).toBe(true);
  });
});
