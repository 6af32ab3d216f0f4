import { describe, expect, it } from "vitest";
import { findBacktrackingRisk } from "../../../src/core/policy/regex-safety.ts";

/** Known catastrophic patterns, by family. Each must be refused. */
const REFUSED: Array<[string, RegExp]> = [
  ["(a+)+$", /nested quantifiers/],
  ["(a*)*b", /nested quantifiers/],
  ["(?:a+){2,}", /nested quantifiers/],
  ["(.*a){12}", /nested quantifiers/],
  ["(a?){30}a{30}", /nested quantifiers/],
  ["^(\\w+\\s?)+$", /nested quantifiers/],
  ["(x+x+)+y", /nested quantifiers/],
  ["^(([a-z])+.)+[A-Z]([a-z])+$", /nested quantifiers/],
  ["(?=(a+)+b)", /nested quantifiers/],
  ["(a|a)*", /alternatives that can match the same text/],
  ["(a|ab)+c", /alternatives that can match the same text/],
  ["(\\w|\\d)+$", /alternatives that can match the same text/],
  ["(.|\\s)*x", /alternatives that can match the same text/],
  ["([a-c]|b)*", /alternatives that can match the same text/],
  ["(?i:(a|A))+", /alternatives that can match the same text/],
  ["(\\1a|b)+", /./],
];

/** Everyday policy patterns that must stay allowed. */
const ALLOWED = [
  "^claude-.*",
  "^(gpt-4o|gpt-4o-mini)$",
  "password|secret|api[_-]?key",
  "^[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}$",
  "(\\d{1,3}\\.){3}\\d{1,3}",
  "(a|b)*",
  "(\\w|-)+",
  "(?:ab)+",
  "(\\d{3})+",
  "(foo|bar)+baz",
  "\\bsk-[A-Za-z0-9]{20,}\\b",
  "[^]*x",
  "a{2}{",
];

describe("findBacktrackingRisk", () => {
  it.each(REFUSED)("refuses %s", (pattern, why) => {
    expect(() => new RegExp(pattern)).not.toThrow();
    const risk = findBacktrackingRisk(pattern);
    expect(risk).toMatch(why);
    expect(risk).toMatch(/catastrophic backtracking/);
  });

  it.each(ALLOWED)("allows %s", (pattern) => {
    expect(findBacktrackingRisk(pattern)).toBeUndefined();
  });

  it("names the repeated part it refuses", () => {
    expect(findBacktrackingRisk("^id-(\\d+)+$")).toContain("`(\\d+)+`");
  });

  it("refuses patterns nested too deep to analyse rather than recursing without limit", () => {
    const deep = `${"(".repeat(100)}a${")".repeat(100)}`;
    expect(findBacktrackingRisk(deep)).toMatch(/nested more than/);
  });
});
