import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultConfig, loadConfig, parseConfig } from "../../src/core/config.ts";
import { createEngine, type EngineOptions } from "../../src/core/create-engine.ts";
import { ConfigError } from "../../src/core/errors.ts";
import { DEFAULT_POLICY_YAML, resolveVault } from "../../src/core/vault.ts";
import { usertrust } from "../support/run-cli.ts";

const FILE = "/vault/.usertrust/usertrust.config.json";
const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempBase(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-config-"));
  temps.push(dir);
  return dir;
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

/** What createEngine throws for `options` on a fresh vault; fails the test when it opens. */
async function engineError(options: Omit<EngineOptions, "vaultBase">): Promise<ConfigError> {
  const opened = await createEngine({ vaultBase: tempBase(), ...options }).then(
    async (engine) => {
      await engine.close();
      return engine.config;
    },
    (error: unknown) => error,
  );
  expect(opened).toBeInstanceOf(ConfigError);
  return opened as ConfigError;
}

/** A config file as a user would write it: pretty JSON, one field per line. */
function pretty(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

describe("parseConfig", () => {
  it("fills every default around the one required field", () => {
    const config = parseConfig('{ "budget": 1234 }', FILE);
    expect(config).toEqual({
      budget: 1234,
      warnAt: [],
      budgets: [],
      tier: "mini",
      policies: "policies/default.yml",
      enforcement: "block",
      pii: "warn",
      injection: "warn",
      board: { enabled: false, vetoThreshold: "medium", escalation: "block", maxHistory: 100 },
      circuitBreaker: { failureThreshold: 5, resetTimeout: 30_000 },
      patterns: { enabled: false, feedProxy: false },
      audit: { rotation: "none", indexLimit: 10_000 },
      ledger: { kind: "sqlite" },
      tigerbeetle: { addresses: [], clusterId: 0 },
      durability: "normal",
      holdTimeoutSeconds: 600,
      defaultMaxOutputTokens: 4096,
      unknownModel: "deny",
      pricing: {},
    });
    expect(defaultConfig(1234)).toEqual(config);
    expect(parseConfig('{ "budget": 1, "board": { "enabled": true } }', FILE).board).toEqual({
      enabled: true,
      vetoThreshold: "medium",
      escalation: "block",
      maxHistory: 100,
    });
  });

  it("names the file and the line of invalid JSON", () => {
    const error = configError('{\n  "budget": 100,\n  "tier": "mini"\n  "pii": "warn"\n}\n');
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.file).toBe(FILE);
    expect(error.line).toBe(4);
    expect(error.message).toContain(`${FILE}:4`);
    expect(error.message).toContain("not valid JSON");

    const trailingComma = configError('{\n  "budget": 100,\n}\n');
    expect(trailingComma.line).toBe(3);
    expect(trailingComma.message).toContain(FILE);
  });

  it('names field `budget` and its exact line for "budget": "lots"', () => {
    const error = configError(pretty({ tier: "mini", pii: "warn", budget: "lots", durability: "normal" }));
    expect(error.field).toBe("budget");
    expect(error.line).toBe(4);
    expect(error.message).toContain(`${FILE}:4 (field \`budget\`)`);
    expect(error.message).toMatch(/expected number/);
  });

  it("finds the line in tab-indented and one-line JSON as well", () => {
    expect(configError('{\n\t"tier": "mini",\n\t"budget": "lots"\n}\n')).toMatchObject({
      field: "budget",
      line: 3,
    });
    expect(configError('{"budget": 5, "board": {"vetoThreshold": "extreme"}}')).toMatchObject({
      field: "board.vetoThreshold",
      line: 1,
    });
  });

  it("names an unknown field next to a valid budget and its line", () => {
    const error = configError(pretty({ budget: 100, tier: "mini", budgt: 200 }));
    expect(error.field).toBe("budgt");
    expect(error.line).toBe(4);
    expect(error.message).toContain("unknown field");
  });

  it('names the typo "budgt" (and its line) when it replaces "budget"', () => {
    // The common typo: the user misspelled the one required field. Pointing at the missing `budget`
    // without a line hides the misspelled key that is actually in the file.
    const error = configError(pretty({ tier: "mini", budgt: 200 }));
    expect(error.message).toContain("budgt");
    expect(error.line).toBe(3);
  });

  it("names a nested field with its dotted path and line", () => {
    const error = configError(pretty({ budget: 100, board: { enabled: true, vetoThreshold: "extreme" } }));
    expect(error.field).toBe("board.vetoThreshold");
    expect(error.line).toBe(5);
    expect(error.message).toMatch(/"low"\|"medium"\|"high"\|"critical"/);

    const deeper = configError(
      pretty({ budget: 100, pricing: { "my-model": { inputPerMTok: -1, outputPerMTok: 2 } } }),
    );
    expect(deeper).toMatchObject({ field: "pricing.my-model.inputPerMTok", line: 5 });
  });

  it("accepts every unknownModel form", () => {
    expect(parseConfig('{ "budget": 1 }', FILE).unknownModel).toBe("deny");
    expect(parseConfig('{ "budget": 1, "unknownModel": "deny" }', FILE).unknownModel).toBe("deny");
    expect(parseConfig('{ "budget": 1, "unknownModel": "warn" }', FILE).unknownModel).toBe("warn");
    const rate = { rate: { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3 } };
    expect(parseConfig(JSON.stringify({ budget: 1, unknownModel: rate }), FILE).unknownModel).toEqual(rate);
  });

  it("refuses an unknownModel value it does not know, naming the field and its line", () => {
    const error = configError(pretty({ budget: 1, unknownModel: "allow" }));
    expect(error).toMatchObject({ field: "unknownModel", line: 3 });
    expect(error.message).toContain(FILE);
  });

  it("says which unknownModel forms are accepted when given another", () => {
    // "Invalid input" alone does not tell the user what to write instead.
    const error = configError(pretty({ budget: 1, unknownModel: "allow" }));
    expect(error.message).toContain('"deny"');
    expect(error.message).toContain('"warn"');
    expect(error.message).toContain("rate");
  });

  it("names the missing price inside an unknownModel rate", () => {
    const error = configError(pretty({ budget: 1, unknownModel: { rate: { inputPerMTok: 3 } } }));
    expect(error.message).toContain("outputPerMTok");
  });

  it('refuses audit.rotation "daily" with a message that says only "none" is supported', () => {
    const error = configError(pretty({ budget: 1, audit: { rotation: "daily" } }));
    expect(error).toMatchObject({ field: "audit.rotation", line: 4 });
    expect(error.message).toContain('only "none" is supported');
    expect(parseConfig(pretty({ budget: 1, audit: { rotation: "none" } }), FILE).audit.rotation).toBe("none");
  });

  it("points a duplicated key at the occurrence JSON.parse actually used", () => {
    const error = configError('{\n  "budget": 5,\n  "budget": "lots"\n}\n');
    expect(error.field).toBe("budget");
    expect(error.line).toBe(3);
  });
});

describe("loadConfig", () => {
  it("reads and validates a config file", () => {
    const dir = tempBase();
    const file = join(dir, "usertrust.config.json");
    writeFileSync(file, pretty({ budget: 777, tier: "pro" }));
    expect(loadConfig(file)).toMatchObject({ budget: 777, tier: "pro", unknownModel: "deny" });
  });

  it("names the real file in errors", () => {
    const dir = tempBase();
    const file = join(dir, "usertrust.config.json");
    writeFileSync(file, pretty({ budget: "lots" }));
    expect(() => loadConfig(file)).toThrow(`${file}:2 (field \`budget\`)`);
  });

  it("tells the user to run `usertrust init` when the file is missing", () => {
    const file = join(tempBase(), "usertrust.config.json");
    expect(() => loadConfig(file)).toThrow(ConfigError);
    expect(() => loadConfig(file)).toThrow(/usertrust init/);
    expect(() => loadConfig(file)).toThrow(file);
  });
});

describe("config fields passed in code (createEngine, trust())", () => {
  it("refuses a negative `budget` option with a ConfigError naming the option and the field", async () => {
    const error = await engineError({ budget: -5 });
    expect(error).toMatchObject({ code: "CONFIG_INVALID", field: "budget", file: "the `budget` option" });
    expect(error.message).toMatch(/^the `budget` option \(field `budget`\): /);
    expect(await engineError({ budget: 1.5 })).toMatchObject({ field: "budget" });
  });

  it("refuses a `tier` option the config file could not name either", async () => {
    const error = await engineError({ tier: "gold" as never });
    expect(error).toMatchObject({ code: "CONFIG_INVALID", field: "tier", file: "the `tier` option" });
    expect(error.message).toContain('"free"|"mini"|"pro"|"mega"|"ultra"');
  });

  it("applies valid `budget` and `tier` options over the file and the `config` option", async () => {
    const engine = await createEngine({
      vaultBase: tempBase(),
      budget: 0,
      tier: "pro",
      config: { budget: 9_000, tier: "free", enforcement: "warn" },
    });
    try {
      expect(engine.config).toMatchObject({ budget: 0, tier: "pro", enforcement: "warn" });
      expect((await engine.ledger.balance()).budgetUsertokens).toBe(0);
    } finally {
      await engine.close();
    }
  });
});

describe("`usertrust init`", () => {
  it("creates the config, policies/default.yml and audit/, then keeps the user's edits on a re-run", async () => {
    const base = tempBase();
    const paths = resolveVault({ vaultBase: base });
    const first = await usertrust("init", "--vault-base", base);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`created ${paths.config}`);
    expect(first.stdout).toContain(`created ${paths.defaultPolicy}`);
    expect(loadConfig(paths.config)).toEqual(defaultConfig());
    expect(readFileSync(paths.defaultPolicy, "utf8")).toBe(DEFAULT_POLICY_YAML);
    expect(statSync(paths.auditDir).isDirectory()).toBe(true);

    const edited = readFileSync(paths.config, "utf8").replace('"budget": 50000', '"budget": 999');
    expect(edited).toContain('"budget": 999');
    writeFileSync(paths.config, edited);
    const second = await usertrust("init", "--vault-base", base);
    expect(second.code).toBe(0);
    expect(readFileSync(paths.config, "utf8")).toBe(edited);
    expect(second.stdout).toMatch(new RegExp(`kept\\s+${paths.config.replaceAll(".", "\\.")}`));
    expect(second.stdout).toContain("kept");
    expect(second.stdout).not.toContain("created");
  });

  it("writes --budget into a new config and reports created/kept as JSON with --json", async () => {
    const base = tempBase();
    const paths = resolveVault({ vaultBase: base });
    const run = await usertrust("init", "--budget", "1234", "--json", "--vault-base", base);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      vault: paths.root,
      created: [paths.config, paths.defaultPolicy, paths.auditLog],
      kept: [],
    });
    expect(loadConfig(paths.config).budget).toBe(1234);
  });

  it("exits 2 on a --budget that is not a whole number, creating nothing", async () => {
    const base = tempBase();
    const [letters, fraction, negative] = await Promise.all([
      usertrust("init", "--budget", "abc", "--vault-base", join(base, "a")),
      usertrust("init", "--budget", "12.5", "--vault-base", join(base, "b")),
      usertrust("init", "--budget=-5", "--vault-base", join(base, "c")),
    ]);
    expect(letters.code).toBe(2);
    expect(letters.stderr).toContain('--budget must be a whole number of usertokens, got "abc"');
    expect(fraction.code).toBe(2);
    expect(negative.code).toBe(2);
    for (const dir of ["a", "b", "c"]) expect(existsSync(join(base, dir, ".usertrust"))).toBe(false);
  });

  it("exits 2 on an empty or blank --budget instead of writing a budget of 0", async () => {
    // Number("") and Number("  ") are 0: a budget that denies every call, written without a word.
    const base = tempBase();
    const [empty, blank] = await Promise.all([
      usertrust("init", "--budget=", "--vault-base", join(base, "a")),
      usertrust("init", "--budget", "  ", "--vault-base", join(base, "b")),
    ]);
    expect(empty.code).toBe(2);
    expect(blank.code).toBe(2);
    for (const dir of ["a", "b"]) expect(existsSync(join(base, dir, ".usertrust"))).toBe(false);
  });
});
