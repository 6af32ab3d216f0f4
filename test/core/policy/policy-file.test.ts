import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UsertrustError } from "../../../src/core/errors.ts";
import {
  evaluatePolicies,
  loadPolicies,
  loadPolicyFile,
  PolicyLoadError,
  type PolicyProblem,
  parsePolicyText,
} from "../../../src/core/policy/index.ts";
import { DEFAULT_POLICY_YAML } from "../../../src/core/vault.ts";

const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-policy-"));
  temps.push(dir);
  return dir;
}

/** The PolicyLoadError `load` throws; fails the test when it loads. */
function loadError(load: () => unknown): PolicyLoadError {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyLoadError);
    return error as PolicyLoadError;
  }
  throw new Error("expected a PolicyLoadError");
}

function problemsOf(text: string, file = "rules.yml"): PolicyProblem[] {
  return [...loadError(() => parsePolicyText(text, file)).problems];
}

/** Problems as [line, column, path] for exact position checks. */
function positions(problems: readonly PolicyProblem[]): Array<[number, number, string]> {
  return problems.map((p) => [p.line, p.column, p.path]);
}

const VALID_RULE = `- name: block-expensive-models
  effect: deny
  enforcement: hard
  severity: high
  priority: 50
  conditions:
    - field: model
      operator: in
      value:
        - claude-opus-4-6
        - gpt-5.4
  scopePatterns:
    - "production/*"
  timeWindows:
    - daysOfWeek: [1, 2, 3, 4, 5]
      startHour: 9
      endHour: 17
`;

describe("reading rule files", () => {
  it("reads the spec's example rule and fills priority and enabled defaults", () => {
    const [rule] = parsePolicyText(VALID_RULE, "rules.yml");
    expect(rule).toEqual({
      name: "block-expensive-models",
      effect: "deny",
      enforcement: "hard",
      severity: "high",
      priority: 50,
      enabled: true,
      conditions: [{ field: "model", operator: "in", value: ["claude-opus-4-6", "gpt-5.4"] }],
      scopePatterns: ["production/*"],
      timeWindows: [{ daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 }],
    });
    const [minimal] = parsePolicyText(
      "- name: r\n  effect: warn\n  enforcement: soft\n  conditions: []\n",
      "f",
    );
    expect(minimal?.priority).toBe(100);
    expect(minimal?.enabled).toBe(true);
  });

  it("accepts a bare list and a `rules:` object alike", () => {
    const indented = VALID_RULE.replace(/^/gm, "  ").trimEnd();
    expect(parsePolicyText(`rules:\n${indented}\n`, "f")).toEqual(parsePolicyText(VALID_RULE, "f"));
  });

  it("reads JSON by its content, whatever the file is called", () => {
    const dir = tempDir();
    const rules = [
      { name: "j", effect: "warn", enforcement: "soft", conditions: [{ field: "a", operator: "exists" }] },
    ];
    writeFileSync(join(dir, "rules.json"), JSON.stringify({ rules }, null, "\t"));
    writeFileSync(join(dir, "list.yml"), JSON.stringify(rules));
    expect(loadPolicyFile(join(dir, "rules.json"))).toEqual(loadPolicyFile(join(dir, "list.yml")));
    expect(loadPolicyFile(join(dir, "rules.json"))[0]?.name).toBe("j");
  });

  it("reads an empty or comment-only file as no rules", () => {
    expect(parsePolicyText("", "f")).toEqual([]);
    expect(parsePolicyText("# nothing yet\n", "f")).toEqual([]);
  });

  it("loads the default policy that `usertrust init` writes", () => {
    const rules = parsePolicyText(DEFAULT_POLICY_YAML, "default.yml");
    expect(rules.map((rule) => rule.name)).toEqual(["zero-budget", "high-cost", "budget-exhausted"]);
  });

  it("returns frozen rules, so a loaded rule set cannot be changed behind the gate's back", () => {
    const rules = parsePolicyText(VALID_RULE, "f");
    expect(Object.isFrozen(rules)).toBe(true);
    expect(Object.isFrozen(rules[0]?.conditions[0])).toBe(true);
  });
});

describe("refusing a malformed file", () => {
  it("is a UsertrustError with code POLICY_INVALID", () => {
    const error = loadError(() => parsePolicyText("- name: [", "f.yml"));
    expect(error).toBeInstanceOf(UsertrustError);
    expect(error.code).toBe("POLICY_INVALID");
  });

  it("names every problem of a file at once, each at its own line and column", () => {
    const text = [
      /*  1 */ "- name: first",
      /*  2 */ "  efect: deny",
      /*  3 */ "  enforcement: hardd",
      /*  4 */ "  priority: high",
      /*  5 */ "  conditions:",
      /*  6 */ "    - field: model",
      /*  7 */ "      operator: in",
      /*  8 */ "      value: gpt-4o",
      /*  9 */ "    - field: estimatedCost",
      /* 10 */ "      operator: gt",
      /* 11 */ '      value: "5"',
      /* 12 */ "    - field: metadata.team",
      /* 13 */ "      operator: exists",
      /* 14 */ "      value: search",
      /* 15 */ "    - field: model",
      /* 16 */ "      operator: regexp",
      /* 17 */ "      value: x",
      /* 18 */ "    - field: model",
      /* 19 */ "      operator: regex",
      /* 20 */ '      value: "(a+)+$"',
      /* 21 */ "    - field: model",
      /* 22 */ "      operator: regex",
      /* 23 */ '      value: "gpt-(4"',
      /* 24 */ "    - field: model",
      /* 25 */ "      operator: eq",
      /* 26 */ "  timeWindows:",
      /* 27 */ "    - startHour: 25",
      /* 28 */ "      endHour: 6",
      /* 29 */ "      daysOfWeek: [1, 7]",
      /* 30 */ "      timeZone: Mars/Olympus_Mons",
      /* 31 */ "    - startHour: 9",
      /* 32 */ "      endHour: 9",
      /* 33 */ "- name: first",
      /* 34 */ "  effect: warn",
      /* 35 */ "  enforcement: soft",
      /* 36 */ "  conditions: []",
      /* 37 */ "- effect: warn",
      /* 38 */ "  enforcement: soft",
      /* 39 */ "",
    ].join("\n");
    const problems = problemsOf(text);
    expect(positions(problems)).toEqual([
      [2, 3, "[0].efect"],
      [3, 16, "[0].enforcement"],
      [4, 13, "[0].priority"],
      [8, 14, "[0].conditions[0].value"],
      [11, 14, "[0].conditions[1].value"],
      [14, 14, "[0].conditions[2].value"],
      [16, 17, "[0].conditions[3].operator"],
      [20, 14, "[0].conditions[4].value"],
      [23, 14, "[0].conditions[5].value"],
      [24, 7, "[0].conditions[6]"],
      [27, 18, "[0].timeWindows[0].startHour"],
      [29, 23, "[0].timeWindows[0].daysOfWeek[1]"],
      [30, 17, "[0].timeWindows[0].timeZone"],
      [32, 16, "[0].timeWindows[1].endHour"],
      [37, 3, "[2].name"],
      [37, 3, "[2].conditions"],
    ]);
    const messages = problems.map((p) => p.message);
    expect(messages[0]).toMatch(/rule "first" efect: unknown key; did you mean `effect`\?/);
    expect(messages[1]).toMatch(/"hard", "soft".*"hardd"/);
    expect(messages[2]).toMatch(/must be a number, not the string "high"/);
    expect(messages[3]).toMatch(/"in" needs a list/);
    expect(messages[4]).toMatch(/"gt" compares numbers/);
    expect(messages[5]).toMatch(/"exists" takes no value/);
    expect(messages[6]).toMatch(/unknown operator "regexp"; use one of exists, .*regex/);
    expect(messages[7]).toMatch(/`\(a\+\)\+` .*catastrophic backtracking/);
    expect(messages[8]).toMatch(/invalid pattern/);
    expect(messages[9]).toMatch(/"eq" needs a `value`/);
    expect(messages[10]).toMatch(/whole hour from 0 to 23/);
    expect(messages[11]).toMatch(/0 \(Sunday\) to 6 \(Saturday\)/);
    expect(messages[12]).toMatch(/unknown time zone "Mars\/Olympus_Mons"/);
    expect(messages[13]).toMatch(/empty window/);
    expect(messages[14]).toMatch(/\[2\]: missing required field `name`/);
    expect(messages[15]).toMatch(/missing required field `conditions`/);
    // The misspelt `efect` is reported as such, not also as a missing `effect`.
    expect(messages.filter((m) => m.includes("`effect`"))).toHaveLength(1);

    // The duplicate name is found only once the file is otherwise valid: fix rule 0 and drop rule 2.
    const fixed = text
      .split("\n")
      .slice(0, 1)
      .concat("  effect: deny", "  enforcement: hard", "  conditions: []");
    const duplicate = problemsOf([...fixed, ...text.split("\n").slice(32, 36), ""].join("\n"));
    expect(positions(duplicate)).toEqual([[5, 9, "[1].name"]]);
    expect(duplicate[0]?.message).toMatch(/"first".*already used by the rule at rules\.yml:1/);
  });

  it("points at YAML syntax errors and stops there, naming each one", () => {
    const problems = problemsOf("- name: a\n  effect: deny\n  effect: warn\n- name: b\n  conditions: [\n");
    expect(positions(problems)).toEqual([
      [3, 3, ""],
      [6, 1, ""],
    ]);
    expect(problems[0]?.message).toMatch(/a key is repeated/);
  });

  it("says tabs are the trouble when a line is indented with one", () => {
    const [problem] = problemsOf("- name: a\n\teffect: deny\n");
    expect(problem?.line).toBe(2);
    expect(problem?.message).toMatch(/spaces, not tabs/);
  });

  it("gives JSON syntax errors a line and column too", () => {
    const problems = problemsOf(
      '{\n  "rules": [\n    { "name": "x" "effect": "deny" }\n  ]\n}\n',
      "rules.json",
    );
    expect(problems[0]).toMatchObject({ file: "rules.json", line: 3, column: 15 });
  });

  it("refuses unknown keys at every level, with a suggestion when one is close", () => {
    const problems = problemsOf(
      "rules:\n  - name: a\n    effect: deny\n    enforcement: hard\n    conditions:\n" +
        "      - field: x\n        operater: exists\n    timeWindows:\n      - startHour: 1\n        endHour: 2\n        tz: UTC\n" +
        "extra: 1\n",
    );
    expect(positions(problems)).toEqual([
      [7, 9, "rules[0].conditions[0].operater"],
      [11, 9, "rules[0].timeWindows[0].tz"],
      [12, 1, "extra"],
    ]);
    expect(problems[0]?.message).toMatch(/did you mean `operator`/);
    expect(problems[1]?.message).toMatch(/expected one of `daysOfWeek`, `startHour`, `endHour`, `timeZone`/);
    expect(problems[2]?.message).toMatch(/expected one of `rules`/);
  });

  it("refuses operator/value mismatches for every operator family", () => {
    const cases: Array<[string, string, RegExp]> = [
      ["eq", "[a, b]", /"eq" compares one value.*use "in"/],
      ["neq", "{ a: 1 }", /"neq" compares one value/],
      ["gte", "ten", /"gte" compares numbers/],
      ["lt", "null", /"lt" compares numbers/],
      ["not_in", "deprecated-model", /"not_in" needs a list/],
      ["in", "[[a]]", /list of strings, numbers/],
      ["contains", "[password]", /"contains" looks for one string/],
      ["regex", "5", /"regex" needs a pattern string/],
      ["not_exists", "true", /"not_exists" takes no value/],
    ];
    for (const [operator, value, message] of cases) {
      const text = `- name: r\n  effect: warn\n  enforcement: soft\n  conditions:\n    - field: f\n      operator: ${operator}\n      value: ${value}\n`;
      const problems = problemsOf(text);
      expect(positions(problems), operator).toEqual([[7, 14, "[0].conditions[0].value"]]);
      expect(problems[0]?.message, operator).toMatch(message);
    }
  });

  it("refuses empty scope, window and day lists, which would silently never match", () => {
    const problems = problemsOf(
      "- name: r\n  effect: warn\n  enforcement: soft\n  conditions: []\n  scopePatterns: []\n" +
        "  timeWindows:\n    - daysOfWeek: []\n      startHour: 1\n      endHour: 2\n",
    );
    expect(positions(problems)).toEqual([
      [5, 18, "[0].scopePatterns"],
      [7, 19, "[0].timeWindows[0].daysOfWeek"],
    ]);
  });

  it("refuses a document that is neither a list nor `{ rules: [...] }`", () => {
    expect(positions(problemsOf("just words\n"))).toEqual([[1, 1, ""]]);
    const problems = problemsOf("- 5\n- name: a\n  effect: warn\n  enforcement: soft\n  conditions: []\n");
    expect(positions(problems)).toEqual([[1, 3, "[0]"]]);
    expect(problems[0]?.message).toMatch(/must be an object, not the number 5/);
  });

  it("lists the problems in the error message too", () => {
    const error = loadError(() => parsePolicyText("- name: a\n  effect: nope\n", "x.yml"));
    expect(error.message).toContain("x.yml:2:11");
    expect(error.message).toContain("x.yml:1:3");
    expect(error.message).toMatch(/3 problems/);
    expect(error.message).toMatch(/missing required field `enforcement`/);
  });
});

describe("loading several files and folders", () => {
  const rule = (name: string, priority = 100) =>
    `- name: ${name}\n  effect: warn\n  enforcement: soft\n  priority: ${priority}\n  conditions: []\n`;

  it("reads every .yml, .yaml and .json in a folder, sorted by name, and nothing else", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "b.yaml"), rule("from-b"));
    writeFileSync(join(dir, "a.yml"), rule("from-a"));
    writeFileSync(
      join(dir, "c.json"),
      JSON.stringify([{ name: "from-c", effect: "warn", enforcement: "soft", conditions: [] }]),
    );
    writeFileSync(join(dir, "notes.txt"), "not a policy");
    writeFileSync(join(dir, ".hidden.yml"), "broken: [");
    mkdirSync(join(dir, "nested.yml"));
    expect(loadPolicies([dir]).map((r) => r.name)).toEqual(["from-a", "from-b", "from-c"]);
  });

  it("gathers the problems of all files into one error, and finds names repeated across files", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "a.yml"), `${rule("shared")}- name: x\n  effect: maybe\n`);
    writeFileSync(join(dir, "b.yml"), "- name: [\n");
    const other = join(tempDir(), "other.yml");
    writeFileSync(other, rule("shared"));
    const good = join(tempDir(), "good.yml");
    writeFileSync(good, rule("shared"));

    const error = loadError(() => loadPolicies([dir, join(dir, "missing.yml")]));
    expect(error.problems.map((p) => [p.file, p.line, p.column])).toEqual([
      [join(dir, "missing.yml"), 0, 0],
      [join(dir, "a.yml"), 6, 3],
      [join(dir, "a.yml"), 6, 3],
      [join(dir, "a.yml"), 7, 11],
      [join(dir, "b.yml"), 2, 1],
    ]);
    const duplicate = loadError(() => loadPolicies([other, good]));
    expect(duplicate.problems).toEqual([
      expect.objectContaining({ file: good, line: 1, column: 9, path: "[0].name" }),
    ]);
    expect(duplicate.problems[0]?.message).toContain(`${other}:1`);
  });

  it("keeps file order for equal priorities across files", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "1.yml"), rule("late", 5) + rule("tie-first"));
    writeFileSync(join(dir, "2.yml"), rule("early", 1) + rule("tie-second"));
    const rules = loadPolicies([dir]);
    const result = evaluatePolicies(rules, {}, new Date());
    expect(result.matched.map((m) => m.rule)).toEqual(["early", "late", "tie-first", "tie-second"]);
  });

  it("treats a missing optional path as no rules and a missing named path as a problem", () => {
    const dir = tempDir();
    expect(loadPolicies([{ path: join(dir, "default.yml"), optional: true }])).toEqual([]);
    const error = loadError(() => loadPolicyFile(join(dir, "named.yml")));
    expect(error.problems).toEqual([
      expect.objectContaining({
        file: join(dir, "named.yml"),
        line: 0,
        message: expect.stringMatching(/no such/),
      }),
    ]);
  });

  it("refuses a file larger than the limit without parsing it", () => {
    const file = join(tempDir(), "huge.yml");
    writeFileSync(file, `# ${"x".repeat(1024 * 1024)}\n`);
    expect(loadError(() => loadPolicyFile(file)).problems[0]?.message).toMatch(/limited to 1048576 bytes/);
  });
});
