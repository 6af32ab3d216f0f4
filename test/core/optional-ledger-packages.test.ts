import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempVault } from "../support/temp-vault.ts";

const ENGINE_MODULE = new URL("../../src/core/create-engine.ts", import.meta.url).href;
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/**
 * Runs one governed hold in a fresh process whose resolver cannot find `pg` or `tigerbeetle-node`,
 * as in an install without the optional ledger packages, and prints what happened.
 */
async function holdWithoutLedgerPackages(
  vaultBase: string,
): Promise<{ ok: boolean; name?: string; message?: string }> {
  const script = `
    import { registerHooks } from "node:module";
    registerHooks({
      resolve(specifier, context, next) {
        if (specifier === "pg" || specifier === "tigerbeetle-node") {
          throw Object.assign(new Error("Cannot find package '" + specifier + "'"), { code: "ERR_MODULE_NOT_FOUND" });
        }
        return next(specifier, context);
      },
    });
    const { createEngine } = await import(${JSON.stringify(ENGINE_MODULE)});
    const engine = await createEngine({ vaultBase: ${JSON.stringify(vaultBase)} });
    try {
      const hold = await engine.authorize({ provider: "openai", model: "gpt-4o-mini", promptParts: ["hi"], maxOutputTokens: 10 });
      await hold.settle({ inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0 });
      console.log(JSON.stringify({ ok: true }));
    } catch (error) {
      console.log(JSON.stringify({ ok: false, name: error.name, message: error.message }));
    } finally {
      await engine.close();
    }
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--experimental-strip-types", "--no-warnings", "--input-type=module", "--eval", script],
    { timeout: 20_000 },
  );
  return JSON.parse(stdout);
}

describe("the optional ledger packages", () => {
  it("are not needed by a vault on the embedded SQLite ledger", async () => {
    const vault = makeTempVault({ budget: 10_000 });
    cleanups.push(vault.cleanup);
    expect(await holdWithoutLedgerPackages(vault.base)).toEqual({ ok: true });
  });

  it("are asked for by name, before any call is made, when the TigerBeetle ledger is configured", async () => {
    const vault = makeTempVault({ budget: 10_000, tigerbeetle: { addresses: ["3000"], clusterId: 0 } });
    cleanups.push(vault.cleanup);
    const outcome = await holdWithoutLedgerPackages(vault.base);
    expect(outcome.ok).toBe(false);
    expect(outcome.name).toBe("LedgerUnavailableError");
    expect(outcome.message).toContain("npm install tigerbeetle-node");
  });
});
