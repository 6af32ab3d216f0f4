import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { precompileRules } from "./compiled-rule.ts";
import { PolicyLoadError, type PolicyProblem } from "./policy-load-error.ts";
import { type Locate, offsetOf, type Position, problemsOf } from "./policy-problems.ts";
import type { PolicyRule } from "./policy-rule.ts";
import { describeValue, formatPath, policyDocumentSchema, policyRuleListSchema } from "./policy-schema.ts";

/**
 * A file or folder of policy rules. A folder contributes every *.yml, *.yaml and *.json directly
 * inside it (not dotfiles), sorted by name. `optional` paths may be missing, which means no rules:
 * use it for the default file only; a path the user named should be an error when it is missing.
 * A PolicySet honours `optional` only until the path first exists (see PolicySet).
 */
export type PolicySource = string | { path: string; optional?: boolean };

/** A policy file larger than this is refused unread. */
export const POLICY_FILE_BYTES_MAX = 1024 * 1024;
/** Anchors and aliases may not expand a document beyond this many alias uses (billion laughs). */
const ALIAS_COUNT_MAX = 100;
const POLICY_FILE_EXTENSIONS = new Set([".yml", ".yaml", ".json"]);
/**
 * Cedar files are listed so they can be refused: a `forbid` rule the user wrote must not be left
 * unenforced without a word (the interceptor spec evaluates Cedar; usertrust does not yet).
 */
const CEDAR_EXTENSION = ".cedar";
const CEDAR_UNSUPPORTED =
  "Cedar policies are not supported yet, so this file's rules would not be enforced; write them as " +
  "usertrust rules in a .yml file (README, Policies) and move the .cedar file out of the policy folder";

/** Rules from one YAML or JSON file (a bare list or `{ rules: [...] }`); any problem refuses the file. */
export function loadPolicyFile(path: string): PolicyRule[] {
  return loadPolicies([path]);
}

/** Rules from several files and folders, in order; every problem in every file refuses them all. */
export function loadPolicies(sources: readonly PolicySource[]): PolicyRule[] {
  const { files, problems } = listPolicyFiles(sources);
  const parsed = files.map((file) => readPolicyFile(file));
  return acceptRules(parsed, problems);
}

/** Rules from policy text, e.g. for tests or rules kept in another store; `file` names it in problems. */
export function parsePolicyText(text: string, file: string): PolicyRule[] {
  return acceptRules([parsePolicyDocument(text, file)], []);
}

/** The files `sources` stand for, in load order, and the problems of sources that cannot be used. */
export function listPolicyFiles(sources: readonly PolicySource[]): {
  files: string[];
  problems: PolicyProblem[];
} {
  const files: string[] = [];
  const problems: PolicyProblem[] = [];
  for (const source of sources) {
    const { path, optional = false } = typeof source === "string" ? { path: source } : source;
    try {
      const found = statSync(path).isDirectory() ? policyFilesInFolder(path) : [path];
      for (const file of found) {
        if (extname(file) === CEDAR_EXTENSION) problems.push(wholeFileProblem(file, CEDAR_UNSUPPORTED));
        else files.push(file);
      }
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      if (missing && optional) continue;
      const message = missing
        ? "no such policy file or folder; create it or correct the path"
        : `cannot read: ${(error as Error).message}`;
      problems.push(wholeFileProblem(path, message));
    }
  }
  return { files, problems };
}

function policyFilesInFolder(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith(".") && isPolicyOrCedar(extname(entry.name)))
    .filter((entry) => entry.isFile() || (entry.isSymbolicLink() && isFile(join(folder, entry.name))))
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => join(folder, name));
}

function isPolicyOrCedar(extension: string): boolean {
  return POLICY_FILE_EXTENSIONS.has(extension) || extension === CEDAR_EXTENSION;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

interface ParsedPolicyFile {
  file: string;
  rules: PolicyRule[];
  problems: PolicyProblem[];
  /** Where each rule's name is written, to point at duplicates. */
  namePositions: Array<{ line: number; column: number; path: string }>;
}

function readPolicyFile(file: string): ParsedPolicyFile {
  let text: string;
  try {
    const { size } = statSync(file);
    if (size > POLICY_FILE_BYTES_MAX) {
      return failed(file, `is ${size} bytes; policy files are limited to ${POLICY_FILE_BYTES_MAX} bytes`);
    }
    text = readFileSync(file, "utf8");
  } catch (error) {
    return failed(file, `cannot read: ${(error as Error).message}`);
  }
  return parsePolicyDocument(text, file);
}

function failed(file: string, message: string): ParsedPolicyFile {
  return { file, rules: [], problems: [wholeFileProblem(file, message)], namePositions: [] };
}

function wholeFileProblem(file: string, message: string): PolicyProblem {
  return { file, line: 0, column: 0, path: "", message };
}

const BYTE_ORDER_MARK = "\uFEFF";

/** YAML 1.2 is a superset of JSON, so one parser reads both and gives positions for both. */
function parsePolicyDocument(source: string, file: string): ParsedPolicyFile {
  // Some editors save UTF-8 with a byte order mark; to the YAML parser it is content, not encoding.
  const text = source.startsWith(BYTE_ORDER_MARK) ? source.slice(1) : source;
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined): Position => {
    if (offset === undefined) return { line: 1, column: 1 };
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const syntax = syntaxProblems(document.errors.concat(document.warnings), text, file, at);
  if (syntax.length > 0) return refused(file, syntax);
  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: ALIAS_COUNT_MAX });
  } catch (error) {
    return refused(file, [{ file, ...at(0), path: "", message: (error as Error).message }]);
  }
  if (raw === null || raw === undefined) return { file, rules: [], problems: [], namePositions: [] };
  return validateDocument(raw, file, (path, target) => at(offsetOf(document.contents, path, target)));
}

function syntaxProblems(
  issues: ReadonlyArray<{ code: string; message: string; pos: [number, number] }>,
  text: string,
  file: string,
  at: (offset: number) => Position,
): PolicyProblem[] {
  const lines = issues.length > 0 ? text.split("\n") : [];
  return issues.map((issue) => {
    const position = at(issue.pos[0]);
    return { file, ...position, path: "", message: syntaxMessage(issue, lines[position.line - 1] ?? "") };
  });
}

/** The parser's message with a hint, or our own where the parser's speaks of its API. */
function syntaxMessage(issue: { code: string; message: string }, line: string): string {
  if (issue.code === "MULTIPLE_DOCS") {
    return "a second YAML document starts here: one file holds one rule list; remove the `---` or split the file";
  }
  const hint =
    issue.code === "DUPLICATE_KEY"
      ? "a key is repeated"
      : /^ *\t/.test(line)
        ? "YAML indents with spaces, not tabs"
        : "YAML/JSON syntax";
  return `${issue.message} (${hint})`;
}

function refused(file: string, problems: PolicyProblem[]): ParsedPolicyFile {
  return { file, rules: [], problems: sortByPosition(problems), namePositions: [] };
}

function validateDocument(raw: unknown, file: string, locate: Locate): ParsedPolicyFile {
  const isList = Array.isArray(raw);
  if (!isList && typeof raw !== "object") {
    const message = `must be a list of rules or an object with \`rules:\`, not ${describeValue(raw)}`;
    return refused(file, [{ file, ...locate([], "value"), path: "", message }]);
  }
  const result = isList ? policyRuleListSchema.safeParse(raw) : policyDocumentSchema.safeParse(raw);
  if (!result.success) {
    return refused(
      file,
      result.error.issues.flatMap((issue) => problemsOf(issue, raw, file, locate)),
    );
  }
  const rules = (Array.isArray(result.data) ? result.data : result.data.rules) as PolicyRule[];
  const prefix = isList ? [] : ["rules"];
  const namePositions = rules.map((_, index) => {
    const path = [...prefix, index, "name"];
    return { ...locate(path, "value"), path: formatPath(path) };
  });
  return { file, rules, problems: [], namePositions };
}

function sortByPosition(problems: PolicyProblem[]): PolicyProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Every problem or a frozen, precompiled rule list: never half of one. */
function acceptRules(files: ParsedPolicyFile[], sourceProblems: PolicyProblem[]): PolicyRule[] {
  const problems = [
    ...sourceProblems,
    ...files.flatMap((file) => file.problems),
    ...duplicateNameProblems(files),
  ];
  if (problems.length > 0) throw new PolicyLoadError(problems);
  const rules = files.flatMap((file) => file.rules).map(deepFreeze);
  precompileRules(rules);
  return Object.freeze(rules) as PolicyRule[];
}

function duplicateNameProblems(files: ParsedPolicyFile[]): PolicyProblem[] {
  const firstSeen = new Map<string, string>();
  const problems: PolicyProblem[] = [];
  for (const file of files) {
    file.rules.forEach((rule, index) => {
      const position = file.namePositions[index] ?? { line: 0, column: 0, path: "" };
      const here = `${file.file}:${position.line}`;
      const first = firstSeen.get(rule.name);
      if (first === undefined) {
        firstSeen.set(rule.name, here);
        return;
      }
      problems.push({
        file: file.file,
        ...position,
        message: `rule ${JSON.stringify(rule.name)}: the name is already used by the rule at ${first}; rule names must be unique`,
      });
    });
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
