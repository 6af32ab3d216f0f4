import { readdirSync, readlinkSync, writeFileSync } from "node:fs";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/** The files this process has open inside `folder` (by /proc/self/fd). */
function openFilesUnder(folder: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(folder)) open.push(target);
    } catch {
      // closed while listing
    }
  }
  return open;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe("file descriptors", () => {
  it("a trust() that fails on a broken policy file leaves no file of the vault open (a retrying service leaks one fd per try)", async () => {
    const vault = makeTempVault({ budget: 1_000_000 });
    cleanups.push(vault.cleanup);
    writeFileSync(vault.paths.defaultPolicy, "- name: broken\n  effect: sometimes\n");
    let failures = 0;
    for (let attempt = 0; attempt < 10; attempt++) {
      await trust(new OpenAI({ apiKey: "t", baseURL: "http://127.0.0.1:9/v1" }), {
        vaultBase: vault.base,
      }).catch(() => {
        failures += 1;
      });
    }
    expect(failures).toBe(10);
    // Each attempt opens the audit log before the policy file is read, and must close it again.
    expect(openFilesUnder(vault.base)).toEqual([]);
  });

  it("createEngine that fails on a broken policy file closes what it opened", async () => {
    const vault = makeTempVault({ budget: 1_000_000 });
    cleanups.push(vault.cleanup);
    writeFileSync(vault.paths.defaultPolicy, "- name: broken\n  effect: sometimes\n");
    await expect(createEngine({ vaultBase: vault.base })).rejects.toThrow();
    expect(openFilesUnder(vault.base)).toEqual([]);
  });
});
