import { isAlias, isMap, isScalar, isSeq, type Node } from "yaml";
import type { z } from "zod";
import type { PolicyProblem } from "./policy-load-error.ts";
import { allowedKeysAt, describeValue, formatPath } from "./policy-schema.ts";

/** Where a problem is pointed at: a path's value, its key, or the object that should hold it. */
export type Target = "value" | "key" | "parent";
export type Position = { line: number; column: number };
export type Locate = (path: readonly PropertyKey[], target: Target) => Position;
type Issue = z.core.$ZodIssue;

/** One zod issue as the problems a user reads: located, named by rule, with a hint. */
export function problemsOf(issue: Issue, raw: unknown, file: string, locate: Locate): PolicyProblem[] {
  const path = issue.path;
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => {
      const keyPath = [...path, key];
      return {
        file,
        ...locate(keyPath, "key"),
        path: formatPath(keyPath),
        message: `${where(keyPath, raw)}: unknown key; ${suggestKey(key, allowedKeysAt(path))}`,
      };
    });
  }
  if (path.length > 0 && !isPresent(raw, path)) {
    const field = String(path[path.length - 1]);
    // A misspelt required field shows up twice, unknown and missing; the unknown key says it better.
    if (misspeltKeys(valueAt(raw, path.slice(0, -1)), path.slice(0, -1)).has(field)) return [];
    return [
      {
        file,
        ...locate(path, "parent"),
        path: formatPath(path),
        message: `${where(path.slice(0, -1), raw)}: missing required field \`${field}\``,
      },
    ];
  }
  const message = issue.code === "invalid_type" ? `must be ${expectedType(issue, raw)}` : issue.message;
  return [
    { file, ...locate(path, "value"), path: formatPath(path), message: `${where(path, raw)}: ${message}` },
  ];
}

/** `a number, not the string "high"`; a YAML .inf or .nan is a number, but not one the schema takes. */
function expectedType(issue: Issue & { code: "invalid_type" }, raw: unknown): string {
  const value = valueAt(raw, issue.path);
  const finite = issue.expected === "number" && typeof value === "number";
  return `${article(finite ? "finite number" : issue.expected)}, not ${describeValue(value)}`;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function suggestKey(key: string, allowed: readonly string[]): string {
  const close = closestKey(key, allowed);
  if (close !== undefined) return `did you mean \`${close}\`?`;
  return `expected one of ${allowed.map((k) => `\`${k}\``).join(", ")}`;
}

function closestKey(key: string, allowed: readonly string[]): string | undefined {
  return allowed.find((candidate) => editDistance(key.toLowerCase(), candidate.toLowerCase()) <= 2);
}

/** The allowed keys that an unknown key of `object` looks like a misspelling of. */
function misspeltKeys(object: unknown, path: readonly PropertyKey[]): Set<string> {
  const misspelt = new Set<string>();
  if (typeof object !== "object" || object === null) return misspelt;
  const allowed = allowedKeysAt(path);
  for (const key of Object.keys(object)) {
    if (allowed.includes(key)) continue;
    const close = closestKey(key, allowed);
    if (close !== undefined) misspelt.add(close);
  }
  return misspelt;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const key of path) {
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function isPresent(raw: unknown, path: readonly PropertyKey[]): boolean {
  const parent = valueAt(raw, path.slice(0, -1));
  const key = path[path.length - 1] as PropertyKey;
  return typeof parent === "object" && parent !== null && Object.hasOwn(parent, key);
}

/** `rule "name" conditions[0].value` when the rule has a name, else the plain path. */
function where(path: readonly PropertyKey[], raw: unknown): string {
  const ruleAt = path[0] === "rules" ? 1 : 0;
  const index = path[ruleAt];
  if (typeof index !== "number") return formatPath(path) || "document";
  const name = valueAt(raw, [...path.slice(0, ruleAt + 1), "name"]);
  const rest = formatPath(path.slice(ruleAt + 1));
  const rule =
    typeof name === "string" && name !== ""
      ? `rule ${JSON.stringify(name)}`
      : formatPath(path.slice(0, ruleAt + 1));
  return rest === "" ? rule : `${rule} ${rest}`;
}

/**
 * The source offset of a path's value, of its key, or of the object that should hold it. A path
 * that leads through an alias (`conditions: *shared`) is placed at the alias: the anchored text is
 * shared by every rule that uses it, and may be fine where it is anchored and wrong only here.
 */
export function offsetOf(root: unknown, path: readonly PropertyKey[], target: Target): number | undefined {
  const steps = target === "parent" ? path.slice(0, -1) : path;
  let node = root as Node | null | undefined;
  let keyNode: Node | undefined;
  for (const step of steps) {
    if (isAlias(node)) return node.range?.[0];
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(step));
      keyNode = pair?.key as Node | undefined;
      node = pair?.value as Node | null | undefined;
    } else if (isSeq(node)) {
      keyNode = undefined;
      node = node.items[Number(step)] as Node | undefined;
    } else {
      return undefined;
    }
  }
  if (target === "key" && keyNode !== undefined) return keyNode.range?.[0];
  // A key written with no value (`value:`) has a null node; point at its key.
  return node?.range?.[0] ?? keyNode?.range?.[0];
}
