import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadPolicyFile, parsePolicyText } from "../../../src/core/policy/policy-file.ts";
import { DEFAULT_POLICY_YAML } from "../../../src/core/vault.ts";

const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-policy-edge-"));
  temps.push(dir);
  return dir;
}

/** The PolicyLoadError message for `file`; fails the test when it loads. */
function loadError(file: string): string {
  try {
    loadPolicyFile(file);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${file} to be refused`);
}

describe("policy files", () => {
  it("loads a rule list saved with a UTF-8 byte order mark like the same file without it", () => {
    // The spec's own example: a bare list starting with "- name:", saved by an editor that adds a BOM.
    const rules = DEFAULT_POLICY_YAML.split("\n")
      .filter((line) => !line.startsWith("#"))
      .join("\n");
    const file = join(tempDir(), "rules.yml");
    writeFileSync(file, rules);
    expect(loadPolicyFile(file)).toHaveLength(3);
    writeFileSync(file, `\uFEFF${rules}`);
    expect(loadPolicyFile(file).map((rule) => rule.name)).toEqual([
      "zero-budget",
      "high-cost",
      "budget-exhausted",
    ]);
  });

  it("reads policy text with a byte order mark too", () => {
    const text = '\uFEFF[{ "name": "a", "effect": "deny", "enforcement": "hard", "conditions": [] }]';
    expect(parsePolicyText(text, "rules.json").map((rule) => rule.name)).toEqual(["a"]);
  });

  it("explains two YAML documents in one policy file at the `---`, without pointing at a library API", () => {
    const file = join(tempDir(), "rules.yml");
    writeFileSync(
      file,
      "- name: a\n  effect: deny\n  enforcement: hard\n  conditions: []\n---\n- name: b\n  effect: warn\n  enforcement: soft\n  conditions: []\n",
    );
    const message = loadError(file);
    expect(message).toContain(`${file}:5:1`);
    expect(message).toContain("one file holds one rule list; remove the `---` or split the file");
    expect(message).not.toContain("parseAllDocuments");
  });
});

describe("regex conditions with Unicode property escapes", () => {
  // Without the `u` flag JavaScript reads `\p{Lu}` as the letters "p{Lu}", so such a rule would
  // silently match the wrong text; it is refused with its line instead.
  it("refuses a \\p{…} escape with the file and line, and still loads an escaped backslash before p{", () => {
    const dir = tempDir();
    const refused = join(dir, "unicode.yml");
    writeFileSync(
      refused,
      [
        "- name: shouting-model",
        "  effect: deny",
        "  enforcement: hard",
        "  conditions:",
        '    - { field: model, operator: regex, value: "^\\\\p{Lu}+$" }',
        "",
      ].join("\n"),
    );
    const message = loadError(refused);
    expect(message).toContain(`${refused}:5`);
    expect(message).toMatch(/Unicode property escape/);
    expect("PLAIN").toMatch(/^\p{Lu}+$/u);

    const literal = join(dir, "literal.yml");
    writeFileSync(
      literal,
      [
        "- name: backslash-then-p",
        "  effect: warn",
        "  enforcement: soft",
        "  conditions:",
        '    - { field: model, operator: regex, value: "\\\\\\\\p{x}" }',
        "",
      ].join("\n"),
    );
    expect(loadPolicyFile(literal)).toHaveLength(1);
  });
});
