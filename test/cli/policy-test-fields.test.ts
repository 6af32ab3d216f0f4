import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { initVault, resolveVault } from "../../src/core/vault.ts";
import { cliInProcess } from "../support/run-cli.ts";

/*
 * README "Policies": fields are `estimated_cost` (`estimatedCost`), `budget_remaining`
 * (`budgetRemaining`), `budget_remaining_after` (`budgetRemainingAfterEstimate`), `hour`,
 * `day_of_week`, `time`, `tier`…; `usertrust policy test --model … --cost 1500 … [--at ISO]`
 * "shows which rules match and the decision". A rule written with the documented snake_case names
 * must be decided by `policy test` as the engine decides it.
 */

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function vaultWith(policy: string): string {
  const base = mkdtempSync(join(tmpdir(), "usertrust-policy-fields-"));
  temps.push(base);
  const paths = resolveVault({ vaultBase: base });
  initVault(paths, { budget: 50_000 });
  writeFileSync(paths.defaultPolicy, policy);
  return base;
}

const cli = cliInProcess;

describe("usertrust policy test: the documented snake_case fields", () => {
  it("a warn rule on `estimated_cost gt 1000` matches --cost 1500", async () => {
    const base = vaultWith(`- name: pricey
  effect: warn
  enforcement: soft
  conditions:
    - { field: estimated_cost, operator: gt, value: 1000 }
`);
    const run = await cli("policy", "test", "--vault-base", base, "--model", "gpt-4o", "--cost", "1500");
    expect(run.stdout).toContain('WARN  rule "pricey"');
  });

  it("a hard deny on `budget_remaining_after lt 0` does not deny a cheap call on a 50,000 UT budget", async () => {
    const base = vaultWith(`- name: keep-reserve
  effect: deny
  enforcement: hard
  conditions:
    - { field: budget_remaining_after, operator: lt, value: 0 }
`);
    const run = await cli("policy", "test", "--vault-base", base, "--model", "gpt-4o", "--cost", "10");
    expect(run.stdout).toMatch(/^Decision: allow/m);
    expect(run.code).toBe(0);
  });

  it("a hard deny on `hour gte 22` does not deny at --at noon (hour is known from --at)", async () => {
    const base = vaultWith(`- name: no-night-calls
  effect: deny
  enforcement: hard
  conditions:
    - { field: hour, operator: gte, value: 22 }
`);
    const run = await cli(
      "policy",
      "test",
      "--vault-base",
      base,
      "--model",
      "gpt-4o",
      "--cost",
      "10",
      "--at",
      "2026-03-09T12:00:00Z",
    );
    expect(run.stdout).not.toContain("is missing from the request");
    expect(run.code).toBe(0);
  });
});
