import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import { initVault, resolveVault, type VaultPaths } from "../../src/core/vault.ts";
import { cliInProcess, usertrust } from "../support/run-cli.ts";
import { writeConfig } from "../support/temp-vault.ts";

const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempBase(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-policy-cli-"));
  temps.push(dir);
  return dir;
}

function initializedVault(): { base: string; paths: VaultPaths } {
  const base = tempBase();
  const paths = resolveVault({ vaultBase: base });
  initVault(paths, { budget: 50_000 });
  return { base, paths };
}

const cli = cliInProcess;

const OPUS_RULE = `- name: block-opus-in-production
  effect: deny
  enforcement: hard
  severity: high
  priority: 5
  conditions:
    - field: model
      operator: regex
      value: "^claude-opus"
  scopePatterns:
    - "production/**"
- name: office-hours-only
  effect: warn
  enforcement: soft
  conditions: []
  timeWindows:
    - daysOfWeek: [1, 2, 3, 4, 5]
      startHour: 9
      endHour: 17
      timeZone: Europe/Berlin
- name: search-team
  effect: warn
  enforcement: soft
  conditions:
    - field: metadata.team
      operator: eq
      value: search
    - field: metadata.retries
      operator: gte
      value: 3
`;

describe("usertrust policy validate", () => {
  it("lists every problem of every file in one run as file:line:column and exits 1", async () => {
    const dir = tempBase();
    const first = join(dir, "a.yml");
    const second = join(dir, "b.json");
    writeFileSync(
      first,
      "- name: a\n  effect: deny\n  enforcement: hard\n  conditions:\n    - field: model\n      operator: in\n      value: gpt-4o\n",
    );
    writeFileSync(
      second,
      '[\n  { "name": "b", "effect": "allow", "enforcement": "soft", "conditions": [], "colour": 1 }\n]\n',
    );

    const run = await cli("policy", "validate", first, second);
    expect(run.code).toBe(1);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toEqual([
      `${first}:7:14  rule "a" conditions[0].value: operator "in" needs a list, e.g. [a, b], not the string "gpt-4o"`,
      expect.stringMatching(new RegExp(`^${second}:2:28  rule "b" effect: must be one of "deny", "warn"`)),
      expect.stringMatching(new RegExp(`^${second}:2:78  rule "b" colour: unknown key`)),
      "3 problems; no rule was loaded.",
    ]);

    const json = await cli("policy", "validate", "--json", first, second);
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.stdout) as {
      ok: boolean;
      rules: number;
      problems: Array<{ file: string; line: number }>;
    };
    expect(parsed.ok).toBe(false);
    expect(parsed.problems.map((p) => [p.file, p.line])).toEqual([
      [first, 7],
      [second, 2],
      [second, 2],
    ]);
  });

  it("checks the vault's policies by default and summarises a good file", async () => {
    const { base, paths } = initializedVault();
    const run = await cli("policy", "validate", "--vault-base", base);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toBe(`OK: 3 rules in 1 file\n  ${paths.defaultPolicy}\n`);
    const json = await cli("policy", "validate", "--json", "--vault-base", base);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: true,
      files: [paths.defaultPolicy],
      rules: 3,
      problems: [],
    });
  });

  it("accepts a vault without a policy file (no rules), but not a configured path that is missing", async () => {
    const empty = await cli("policy", "validate", "--vault-base", tempBase());
    expect(empty.code).toBe(0);
    expect(empty.stdout).toMatch(/^OK: no policy file at .*default\.yml; no rules apply\./);

    const { base, paths } = initializedVault();
    writeConfig(paths, { budget: 1, policies: ["policies/default.yml", "team-rules"] });
    const missing = await cli("policy", "validate", "--vault-base", base);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(`${join(paths.root, "team-rules")}  no such policy file or folder`);
  });

  it("follows a config that names a folder of policies", async () => {
    const { base, paths } = initializedVault();
    writeConfig(paths, { budget: 1, policies: "policies" });
    writeFileSync(join(paths.policiesDir, "team.yaml"), OPUS_RULE);
    const run = await cli("policy", "validate", "--vault-base", base);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK: 6 rules in 2 files/);
  });
});

describe("usertrust policy test", () => {
  async function vaultWithOpusRule(): Promise<{ base: string; paths: VaultPaths }> {
    const vault = initializedVault();
    writeFileSync(vault.paths.defaultPolicy, OPUS_RULE);
    return vault;
  }

  it("exits 1 on a deny and prints the matched rules and the decision", async () => {
    const { base } = await vaultWithOpusRule();
    const monday10Berlin = "2026-03-09T09:00:00Z";
    const run = await cli(
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "claude-opus-4-6",
      "--cost",
      "120",
      "--scope",
      "production/api/v2",
      "--at",
      monday10Berlin,
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      '  DENY  rule "block-opus-in-production" (hard deny, high): model "claude-opus-4-6" matches /^claude-opus/; ' +
        'scope "production/api/v2" matches "production/**"',
    );
    expect(run.stdout).toMatch(
      / {2}WARN {2}rule "office-hours-only" .*9:00–17:00 Mon,Tue,Wed,Thu,Fri \(Europe\/Berlin\)/,
    );
    expect(run.stdout).toMatch(/^Decision: deny \(1 hard violation, 1 warning; 3 rules evaluated\)$/m);
  });

  it("exits 0 when allowed, and reads --field values as JSON when they parse", async () => {
    const { base } = await vaultWithOpusRule();
    const saturday = "2026-03-07T12:00:00Z";
    const args = [
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "claude-opus-4-6",
      "--cost",
      "5",
      "--at",
      saturday,
    ];
    const staging = await cli(
      ...args,
      "--scope",
      "staging/x",
      "--field",
      "metadata.team=search",
      "--field",
      "metadata.retries=3",
    );
    expect(staging.code).toBe(0);
    expect(staging.stdout).toContain(
      'WARN  rule "search-team" (soft warn, medium): metadata.team "search" == "search" and metadata.retries 3 >= 3',
    );
    expect(staging.stdout).toMatch(/^Decision: allow \(0 hard violations, 1 warning; 3 rules evaluated\)$/m);

    const text = await cli(...args, "--field", "metadata.team=search", "--field", "metadata.retries=three");
    expect(text.stdout).toContain("No rule matched.");
    expect(text.code).toBe(0);
  });

  it("puts the vault's budget into the request: the config's before any call, then the ledger's", async () => {
    const { base, paths } = initializedVault();
    const args = ["policy", "test", "--json", "--vault-base", base, "--model", "gpt-4o", "--cost", "2000"];
    const fresh = JSON.parse((await cli(...args)).stdout) as {
      context: Record<string, unknown>;
      decision: string;
    };
    expect(fresh.context).toMatchObject({
      budget: 50_000,
      budgetRemaining: 50_000,
      budgetRemainingAfterEstimate: 48_000,
    });
    expect(fresh.context).toMatchObject({ model: "gpt-4o", estimatedCost: 2000, scope: [] });
    expect(fresh.decision).toBe("allow");

    const ledger = new SqliteLedger({ path: paths.ledger, budgetUsertokens: 0 });
    await ledger.close();
    const run = await cli(...args);
    expect(run.code).toBe(1);
    const broke = JSON.parse(run.stdout) as {
      context: Record<string, unknown>;
      hardViolations: Array<{ rule: string }>;
    };
    expect(broke.context).toMatchObject({
      budget: 0,
      budgetRemaining: 0,
      budgetRemainingAfterEstimate: -2000,
    });
    expect(broke.hardViolations.map((m) => m.rule)).toEqual(["zero-budget", "budget-exhausted"]);
  });

  it("exits 2 for bad usage or broken rules", async () => {
    const { base, paths } = initializedVault();
    const test = ["policy", "test", "--vault-base", base];
    expect((await cli(...test, "--cost", "5")).stderr).toMatch(/--model is required/);
    expect((await cli(...test, "--model", "m")).code).toBe(2);
    expect((await cli(...test, "--model", "m", "--cost", "1.5")).stderr).toMatch(
      /whole number of usertokens/,
    );
    expect((await cli(...test, "--model", "m", "--cost", "1", "--at", "tuesday")).stderr).toMatch(/ISO 8601/);
    expect((await cli(...test, "--model", "m", "--cost", "1", "--field", "=x")).stderr).toMatch(
      /FIELD=VALUE/,
    );
    expect((await cli("status", "--model", "m", "--vault-base", base)).stderr).toMatch(
      /option of `usertrust policy test`/,
    );
    expect((await cli("policy", "check")).code).toBe(2);

    writeFileSync(paths.defaultPolicy, "- name: [\n");
    const broken = await cli(...test, "--model", "m", "--cost", "1");
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain(`${paths.defaultPolicy}:2:1`);
  });
});

describe("the usertrust command", () => {
  it("exits with the policy commands' codes as a real process", async () => {
    const { base, paths } = initializedVault();
    expect((await usertrust("policy", "validate", "--vault-base", base)).code).toBe(0);
    const denied = await usertrust(
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "m",
      "--cost",
      "1",
      "--field",
      "budget=0",
    );
    expect(denied.code).toBe(1);
    expect(denied.stdout).toContain('rule "zero-budget" (hard deny, critical): budget 0 == 0');
    writeFileSync(paths.defaultPolicy, "- name: a\n  effect: deny\n");
    const invalid = await usertrust("policy", "validate", "--vault-base", base);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toContain(
      `${paths.defaultPolicy}:1:3  rule "a": missing required field \`enforcement\``,
    );
  });
});
