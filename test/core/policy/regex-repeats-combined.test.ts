import { describe, expect, it } from "vitest";
import { PolicyLoadError, parsePolicyText } from "../../../src/core/policy/index.ts";
import { findBacktrackingRisk } from "../../../src/core/policy/regex-safety.ts";

/*
 * README "Policies": a file is refused with PolicyLoadError for "regexes that could backtrack
 * catastrophically". Two ways past a check that judged each repeated part alone: bounded repeats
 * of overlapping alternatives in a row, whose ways multiply (`(\w|\d){9}` three times: 2^27, ~16 s
 * on 27 digits and a "!" on Node 24), and chains of unbounded repeats over the same characters,
 * polynomial but of high degree (eight `\w*`: ~11 s on 40 letters). While a regex runs, the gate
 * decides no other call, and a tool call's arguments, which the model writes, can be long.
 */
function ruleWithRegex(pattern: string): string {
  return `- name: ticket-format
  effect: deny
  enforcement: hard
  conditions:
    - { field: metadata.ticket, operator: regex, value: ${JSON.stringify(pattern)} }
`;
}

describe("regexes whose parts multiply the engine's work are refused at load", () => {
  it("refuses overlapping alternatives repeated in a row (`(\\w|\\d){9}` three times)", () => {
    const pattern = "^(\\w|\\d){9}(\\w|\\d){9}(\\w|\\d){9}$";
    // Exponential for real: each extra group multiplies the work by ~2^9 (measured, kept small here).
    const timeOf = (groups: number) => {
      const regex = new RegExp(`^${"(\\w|\\d){9}".repeat(groups)}$`);
      const started = performance.now();
      regex.test(`${"1".repeat(9 * groups)}!`);
      return performance.now() - started;
    };
    timeOf(1);
    expect(timeOf(2)).toBeGreaterThan(20 * timeOf(1));

    expect(() => parsePolicyText(ruleWithRegex(pattern), "policies/default.yml")).toThrow(PolicyLoadError);
  });

  it("refuses a chain of unbounded quantifiers over one class, which takes seconds on a 40-character value", () => {
    // Measured ~11 s for 40 letters (a metadata value, an actor id).
    const pattern = "^\\w*\\w*\\w*\\w*\\w*\\w*\\w*\\w*!";
    expect(() => parsePolicyText(ruleWithRegex(pattern), "policies/default.yml")).toThrow(PolicyLoadError);
  });

  it.each([
    ".*rm.*-rf", // cubic: ~32 s on 7,500 characters of "rm rm …"
    ".*foo.*bar.*",
    "^.*a.*a.*a",
    "^(.*)-(.*)-(.*)$",
    "^\\w*\\w*\\w*!",
    "(\\w|\\d){4}(\\w|\\d){4}(\\w|\\d){4}",
    "(\\d{1,3}\\.){3}(\\d{1,3}\\.){3}(\\d{1,3}\\.){3}",
  ])("refuses %s", (pattern) => {
    expect(() => new RegExp(pattern)).not.toThrow();
    expect(findBacktrackingRisk(pattern)).toMatch(/in a row|chains \d+ unbounded repeats/);
  });

  it.each([
    "rm.*-rf", // the same test as `.*rm.*-rf`: a regex condition searches the whole value
    "claude-.*-4.*", // a last repeat with nothing after it ends the match
    ".*opus.*",
    "(prod|staging)/.*/api/.*",
    "^.*\\s.*$",
    "^\\s*\\w+\\s*=\\s*\\w+\\s*$",
    "\\w+@\\w+\\.com",
    "(?=.*\\d)",
    "^(?=.*\\d)(?=.*[a-z]).{8,}$",
    "(\\d{1,3}\\.){3}(\\d{1,3}\\.){3}",
    "\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}",
  ])("allows %s", (pattern) => {
    expect(findBacktrackingRisk(pattern)).toBeUndefined();
  });

  it("says how to rewrite a chain", () => {
    expect(findBacktrackingRisk(".*rm.*-rf")).toMatch(
      /`\.\*rm\.\*` chains 2 unbounded repeats.*power 3.*Drop a leading `\.\*`/,
    );
  });
});
