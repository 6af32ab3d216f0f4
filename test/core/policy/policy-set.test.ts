import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type PolicyLoadError, PolicySet } from "../../../src/core/policy/index.ts";

const temps: string[] = [];

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-policy-set-"));
  temps.push(dir);
  return dir;
}

const rule = (name: string) => `- name: ${name}\n  effect: warn\n  enforcement: soft\n  conditions: []\n`;

function names(set: PolicySet): string[] {
  return set.rules().map((r) => r.name);
}

/** A PolicySet that looks at its files on every call, with its reload errors collected. */
function watched(sources: ConstructorParameters<typeof PolicySet>[0]) {
  const errors: PolicyLoadError[] = [];
  const set = new PolicySet(sources, (error) => errors.push(error), { recheckMs: 0 });
  return { set, errors };
}

describe("PolicySet", () => {
  it("sees an edit on the next rules() call, and returns the same array while nothing changed", () => {
    const file = join(tempDir(), "default.yml");
    writeFileSync(file, rule("before"));
    const { set, errors } = watched([file]);
    const first = set.rules();
    expect(first.map((r) => r.name)).toEqual(["before"]);
    expect(set.rules()).toBe(first);

    writeFileSync(file, rule("after") + rule("added"));
    expect(names(set)).toEqual(["after", "added"]);
    expect(errors).toEqual([]);
  });

  it("keeps the last good rules through a broken edit and reports each broken version once", () => {
    const file = join(tempDir(), "default.yml");
    writeFileSync(file, rule("good"));
    const { set, errors } = watched([file]);
    const good = set.rules();

    writeFileSync(file, `${rule("half")}  effect: [\n`);
    expect(set.rules()).toBe(good);
    expect(set.rules()).toBe(good);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe("POLICY_INVALID");
    expect(errors[0]?.problems[0]?.file).toBe(file);

    writeFileSync(file, "- name: other\n  effect: nope\n");
    expect(set.rules()).toBe(good);
    expect(errors).toHaveLength(2);

    writeFileSync(file, rule("fixed"));
    expect(names(set)).toEqual(["fixed"]);
    expect(errors).toHaveLength(2);
  });

  it("refuses to start on a broken file", () => {
    const file = join(tempDir(), "default.yml");
    writeFileSync(file, "- name: [\n");
    expect(() => new PolicySet([file], () => {})).toThrow(/POLICY|refused/);
  });

  it("treats an optional file missing at start as no rules, also across other edits, and picks it up once it appears", () => {
    const dir = tempDir();
    const file = join(dir, "default.yml");
    const named = join(dir, "named.yml");
    writeFileSync(named, rule("named"));
    const { set, errors } = watched([{ path: file, optional: true }, named]);
    expect(names(set)).toEqual(["named"]);
    writeFileSync(named, rule("renamed"));
    expect(names(set)).toEqual(["renamed"]);
    writeFileSync(file, rule("appeared"));
    expect(names(set)).toEqual(["appeared", "renamed"]);
    expect(errors).toEqual([]);
  });

  it("keeps the rules of an optional file once it has existed, reports its removal once, and reloads it when it is back", () => {
    const file = join(tempDir(), "default.yml");
    writeFileSync(file, rule("kept"));
    const { set, errors } = watched([{ path: file, optional: true }]);
    const kept = set.rules();
    unlinkSync(file);
    expect(set.rules()).toBe(kept);
    expect(set.rules()).toBe(kept);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.problems[0]).toMatchObject({
      file,
      message: expect.stringMatching(/no such policy file/),
    });

    writeFileSync(file, rule("back"));
    expect(names(set)).toEqual(["back"]);
    expect(errors).toHaveLength(1);
  });

  it("requires an optional file that appeared after start from then on", () => {
    const file = join(tempDir(), "default.yml");
    const { set, errors } = watched([{ path: file, optional: true }]);
    expect(set.rules()).toEqual([]);
    writeFileSync(file, rule("appeared"));
    expect(names(set)).toEqual(["appeared"]);
    unlinkSync(file);
    expect(names(set)).toEqual(["appeared"]);
    expect(errors).toHaveLength(1);
  });

  it("refuses a missing named file at start, and keeps the rules if it disappears later", () => {
    const file = join(tempDir(), "named.yml");
    expect(() => new PolicySet([file], () => {})).toThrow(/no such policy file/);
    writeFileSync(file, rule("named"));
    const { set, errors } = watched([file]);
    unlinkSync(file);
    expect(names(set)).toEqual(["named"]);
    expect(errors[0]?.problems[0]?.message).toMatch(/no such policy file/);
  });

  it("follows files added to and removed from a folder", () => {
    const dir = join(tempDir(), "policies");
    mkdirSync(dir);
    writeFileSync(join(dir, "b.yml"), rule("b"));
    const { set } = watched([dir]);
    expect(names(set)).toEqual(["b"]);
    writeFileSync(join(dir, "a.yml"), rule("a"));
    expect(names(set)).toEqual(["a", "b"]);
    unlinkSync(join(dir, "b.yml"));
    expect(names(set)).toEqual(["a"]);
  });

  it("looks at the files at most once per recheck interval", () => {
    const file = join(tempDir(), "default.yml");
    writeFileSync(file, rule("v1"));
    let nowMs = 1_000;
    const set = new PolicySet([file], () => {}, { clock: () => nowMs });
    writeFileSync(file, rule("v2-longer"));
    nowMs += 50;
    expect(names(set)).toEqual(["v1"]);
    nowMs += 50;
    expect(names(set)).toEqual(["v2-longer"]);
  });
});
