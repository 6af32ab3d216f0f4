import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultConfig, withOverrides } from "../../src/core/config.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { ConfigError } from "../../src/core/errors.ts";
import { initVault, resolveVault } from "../../src/core/vault.ts";
import { writeConfig } from "../support/temp-vault.ts";

const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempBase(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-config-overrides-"));
  temps.push(dir);
  return dir;
}

/** The ConfigError withOverrides throws; fails the test when the overrides are accepted. */
function overrideError(overrides: Record<string, unknown>): ConfigError {
  try {
    withOverrides(defaultConfig(), overrides, "the `config` option");
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("config fields passed in code over the file", () => {
  it("keeps the board the file enables when code overrides only board.escalation", async () => {
    const base = tempBase();
    const paths = resolveVault({ vaultBase: base });
    initVault(paths);
    writeConfig(paths, {
      board: { ...defaultConfig().board, enabled: true, vetoThreshold: "high" },
    });
    const engine = await createEngine({
      vaultBase: base,
      dryRun: true,
      config: { board: { escalation: "allow" } },
    });
    try {
      expect(engine.config.board.escalation).toBe("allow");
      expect(engine.config.board.enabled).toBe(true);
      expect(engine.config.board.vetoThreshold).toBe("high");
    } finally {
      await engine.close();
    }
  });

  it("keeps circuitBreaker.resetTimeout from the file when code overrides only failureThreshold", async () => {
    const base = tempBase();
    const paths = resolveVault({ vaultBase: base });
    initVault(paths);
    writeConfig(paths, { circuitBreaker: { failureThreshold: 5, resetTimeout: 120_000 } });
    const engine = await createEngine({
      vaultBase: base,
      dryRun: true,
      config: { circuitBreaker: { failureThreshold: 2 } },
    });
    try {
      expect(engine.config.circuitBreaker).toEqual({ failureThreshold: 2, resetTimeout: 120_000 });
    } finally {
      await engine.close();
    }
  });

  it("adds priced models to the file's pricing and replaces lists and plain values", () => {
    const file = {
      ...defaultConfig(),
      pricing: { "model-a": { inputPerMTok: 1, outputPerMTok: 2 } },
      warnAt: [0.5],
    };
    const config = withOverrides(
      file,
      { pricing: { "model-b": { inputPerMTok: 3, outputPerMTok: 4 } }, warnAt: [0.9], pii: "redact" },
      "the `config` option",
    );
    expect(Object.keys(config.pricing)).toEqual(["model-a", "model-b"]);
    expect(config.warnAt).toEqual([0.9]);
    expect(config.pii).toBe("redact");
  });

  it("replaces the ledger as a whole, since another kind has other fields", () => {
    const file = {
      ...defaultConfig(),
      ledger: { kind: "postgres" as const, url: "postgres://db", schema: "team" },
    };
    expect(withOverrides(file, { ledger: { kind: "memory" } }, "the `config` option").ledger).toEqual({
      kind: "memory",
    });
    // A new postgres ledger does not inherit the file's schema either.
    expect(
      withOverrides(file, { ledger: { kind: "postgres", url: "postgres://other" } }, "the `config` option")
        .ledger,
    ).toEqual({ kind: "postgres", url: "postgres://other", schema: "usertrust" });
  });

  it("keeps the file's value for a field passed as undefined", () => {
    const file = { ...defaultConfig(), enforcement: "warn" as const };
    expect(withOverrides(file, { enforcement: undefined } as never, "the `config` option").enforcement).toBe(
      "warn",
    );
  });

  it("names a misspelt key of the `config` option as the field, not an empty field", async () => {
    const error = await createEngine({
      vaultBase: tempBase(),
      dryRun: true,
      config: { budgt: 100 } as never,
    }).then(
      async (engine) => {
        await engine.close();
        return undefined;
      },
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe("budgt");
    expect((error as ConfigError).message).toContain("the `config` option (field `budgt`): unknown field");
  });

  it("names a misspelt key inside a section by its dotted path", () => {
    expect(overrideError({ board: { escalaton: "allow" } }).field).toBe("board.escalaton");
  });

  it('refuses a "__proto__" key instead of letting it change the merged object', () => {
    const overrides = JSON.parse('{ "board": { "__proto__": { "enabled": true } } }') as Record<
      string,
      unknown
    >;
    expect(overrideError(overrides).field).toBe("board.__proto__");
  });
});
