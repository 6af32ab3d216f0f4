import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_HISTORY_LIMIT } from "../../src/core/board/board.ts";
import { loadConfig, parseConfig } from "../../src/core/config.ts";
import { ConfigError } from "../../src/core/errors.ts";
import { initVault, resolveVault } from "../../src/core/vault.ts";

const FILE = "/vault/.usertrust/usertrust.config.json";
const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempBase(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-config-errors-"));
  temps.push(dir);
  return dir;
}

/** A config file as a user would write it: pretty JSON, one field per line. */
function pretty(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The ConfigError parseConfig throws for `text`; fails the test when it parses. */
function configError(text: string, file = FILE): ConfigError {
  try {
    parseConfig(text, file);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

describe("config file encoding", () => {
  it("reads a config file saved with a UTF-8 byte order mark (Windows Notepad) like the same file without it", () => {
    const base = tempBase();
    const paths = resolveVault({ vaultBase: base });
    initVault(paths, { budget: 1234 });
    writeFileSync(paths.config, `\uFEFF${readFileSync(paths.config, "utf8")}`);
    expect(loadConfig(paths.config).budget).toBe(1234);
  });

  it("still names the line of an error in a file with a byte order mark", () => {
    expect(configError(`\uFEFF${pretty({ budget: 5, tier: "gold" })}`)).toMatchObject({
      field: "tier",
      line: 3,
    });
  });
});

describe("invalid JSON", () => {
  it('names the line and column of an unquoted or single-quoted value (V8\'s "Unexpected token" errors)', () => {
    // V8 gives no position for these, so the position comes from a scan of our own.
    const unquoted = configError('{\n  "budget": 5,\n  "tier": pro\n}\n');
    expect(unquoted.line).toBe(3);
    expect(unquoted.message).toContain(`${FILE}:3: not valid JSON at column 11`);
    const singleQuoted = configError('{\n  "budget": 5,\n  "tier": \'pro\'\n}\n');
    expect(singleQuoted.line).toBe(3);
  });

  it("points at a doubled comma, text after the object, and the end of a cut-off file", () => {
    expect(configError('{\n  "budget": 5,,\n  "tier": "pro"\n}\n').message).toContain(
      ":2: not valid JSON at column 15",
    );
    expect(configError('{ "budget": 5 }\n}\n').line).toBe(2);
    expect(configError('{\n  "budget": 5,\n  "tier": "pro"\n').line).toBe(4);
  });
});

describe("field errors", () => {
  it("says which values `pii` takes when given a misspelt mode", () => {
    const error = configError(pretty({ budget: 5, pii: "redacted" }));
    expect(error.field).toBe("pii");
    expect(error.line).toBe(3);
    expect(error.message).toContain('"off", "warn", "block" or "redact"');
    expect(error.message).toContain('{ "mode": "redact", "restore": true }');
  });

  it("gives the line of an object that misses a required field (ledger.url)", () => {
    const error = configError(pretty({ budget: 5, ledger: { kind: "postgres" } }));
    expect(error.field).toBe("ledger.url");
    // The missing field has no line of its own: the `ledger` key's line is the nearest.
    expect(error.line).toBe(3);
  });

  it("gives the line of a pricing entry that misses outputPerMTok", () => {
    const error = configError(pretty({ budget: 5, pricing: { "my-model": { inputPerMTok: 1 } } }));
    expect(error.field).toBe("pricing.my-model.outputPerMTok");
    expect(error.line).toBe(4);
  });

  it('refuses `"policies": ""` at its line instead of loading the config file itself as a policy file', () => {
    // "" resolves to the vault folder, whose only *.json is usertrust.config.json.
    const error = configError(pretty({ budget: 5, policies: "" }));
    expect(error.field).toBe("policies");
    expect(error.line).toBe(3);
    expect(error.message).toContain("an empty path");
  });

  it("refuses an empty path in a list of policies, and an empty list", () => {
    expect(configError(pretty({ budget: 5, policies: ["policies", ""] }))).toMatchObject({
      field: "policies.1",
      line: 5,
    });
    expect(configError(pretty({ budget: 5, policies: [] })).message).toContain("an empty list");
  });

  it("says what `policies` takes when it is neither a path nor a list", () => {
    const error = configError(pretty({ budget: 5, policies: 3 }));
    expect(error.field).toBe("policies");
    expect(error.message).toContain("a policy file or folder");
  });

  it("refuses a board.maxHistory above what the board keeps, at its line", () => {
    const error = configError(pretty({ budget: 5, board: { maxHistory: MAX_HISTORY_LIMIT + 1 } }));
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.field).toBe("board.maxHistory");
    expect(error.line).toBe(4);
    expect(error.message).toContain(`at most ${MAX_HISTORY_LIMIT}`);
    expect(
      parseConfig(pretty({ budget: 5, board: { maxHistory: MAX_HISTORY_LIMIT } }), FILE).board.maxHistory,
    ).toBe(MAX_HISTORY_LIMIT);
  });
});
