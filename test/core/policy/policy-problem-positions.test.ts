import { describe, expect, it } from "vitest";
import { PolicyLoadError, parsePolicyText } from "../../../src/core/policy/index.ts";

/*
 * README "Policies": "A malformed file is refused whole with PolicyLoadError, listing every problem
 * with file, line and column". STYLE.md: messages "say what, why, and how to fix".
 */

function problemsOf(text: string) {
  try {
    parsePolicyText(text, "policies/default.yml");
  } catch (error) {
    if (error instanceof PolicyLoadError) return error.problems;
    throw error;
  }
  throw new Error("the file was accepted");
}

describe("PolicyLoadError positions and messages", () => {
  it("a problem reached through a YAML alias is placed at the alias", () => {
    // Shared condition lists are what anchors are for; the second rule's error must point somewhere real.
    const problems = problemsOf(`- name: base
  effect: deny
  enforcement: hard
  conditions: &shared
    - { field: model, operator: equals, value: gpt-4o }
- name: second
  effect: deny
  enforcement: hard
  conditions: *shared
`);
    const second = problems.find((problem) => problem.path.startsWith("[1]"));
    expect(second).toBeDefined();
    // At `*shared`: the anchored text (line 5) may be fine where it is anchored and wrong only here.
    expect(second).toMatchObject({ line: 9, column: 15 });
  });

  it("a problem inside a value given by an alias is placed at that alias", () => {
    const problems = problemsOf(`- name: a
  effect: deny
  enforcement: hard
  conditions:
    - { field: model, operator: in, value: &models [gpt-4o, gpt-5] }
    - { field: provider, operator: eq, value: *models }
`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 6, column: 47, path: "[0].conditions[1].value" });
  });

  it.each([
    [".inf", "must be a finite number, not .inf (infinity)"],
    ["-.inf", "must be a finite number, not -.inf (minus infinity)"],
    [".nan", "must be a finite number, not .nan (not a number)"],
  ])("a priority of %s is described as what was written, not as `the number null`", (written, expected) => {
    const problems = problemsOf(`- name: a
  effect: deny
  enforcement: hard
  priority: ${written}
  conditions: []
`);
    expect(problems[0]?.message).toBe(`rule "a" priority: ${expected}`);
  });

  it("a comparison with .inf asks for a finite number", () => {
    const problems = problemsOf(`- name: a
  effect: deny
  enforcement: hard
  conditions:
    - { field: estimated_cost, operator: gt, value: .inf }
`);
    expect(problems[0]?.message).toContain("`value` must be a finite number, not .inf (infinity)");
  });
});
