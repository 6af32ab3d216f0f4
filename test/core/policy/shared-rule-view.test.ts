import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PolicySet } from "../../../src/core/policy/policy-set.ts";
import { SharedRuleView } from "../../../src/core/policy/shared-rule-view.ts";

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const rule = (name: string) => `- name: ${name}\n  effect: warn\n  enforcement: soft\n  conditions: []\n`;
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A view over a real policy file that looks on every call, counting the looks. */
function viewOf(text: string) {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-shared-view-"));
  temps.push(dir);
  const file = join(dir, "default.yml");
  writeFileSync(file, text);
  const policies = new PolicySet([file], () => {}, { recheckMs: 0 });
  const counted = { looks: 0 };
  const rules = policies.rules.bind(policies);
  policies.rules = () => {
    counted.looks++;
    return rules();
  };
  const names = (view: ReturnType<SharedRuleView["forCheck"]>) => view.loaded.map((r) => r.name);
  return { view: new SharedRuleView(policies), file, counted, names };
}

describe("SharedRuleView", () => {
  it("checks in progress together in one turn share one look at the files", () => {
    const { view, counted } = viewOf(rule("a"));
    const first = view.forCheck();
    const second = view.forCheck();
    expect(second).toBe(first);
    expect(counted.looks).toBe(1);
  });

  it("a check that starts after another ended looks again and sees an edit made in between", () => {
    const { view, file, counted, names } = viewOf(rule("before"));
    view.forCheck();
    view.checkEnded();
    writeFileSync(file, rule("after"));
    expect(names(view.forCheck())).toEqual(["after"]);
    expect(counted.looks).toBe(2);
  });

  it("a look is not shared past its turn, even while a check that took it is still in progress", async () => {
    const { view, file, names } = viewOf(rule("before"));
    view.forCheck(); // a check waiting on the board's escalation handler, say
    await nextTurn();
    writeFileSync(file, rule("after"));
    expect(names(view.forCheck())).toEqual(["after"]);
  });
});
