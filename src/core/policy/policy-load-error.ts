import { UsertrustError } from "../errors.ts";

/**
 * One thing wrong with a policy file. `line` and `column` are 1-based; both are 0 when the problem
 * concerns the whole file (it cannot be read, or rules given in code have no file).
 */
export interface PolicyProblem {
  file: string;
  line: number;
  column: number;
  /** Where in the document, e.g. `rules[0].conditions[1].value`; empty for the whole file. */
  path: string;
  message: string;
}

/** Problems printed in the error message; the `problems` array always holds every one. */
const PROBLEMS_IN_MESSAGE_MAX = 50;

/** `file:line:column  message`, the form editors and CI annotate from. */
export function formatPolicyProblem(problem: PolicyProblem): string {
  const where = problem.line === 0 ? problem.file : `${problem.file}:${problem.line}:${problem.column}`;
  return `${where}  ${problem.message}`;
}

/**
 * Policy files were refused as a whole: a half-loaded rule set could let through calls a rule
 * meant to stop, so the last good rules stay in force until every problem is fixed.
 */
export class PolicyLoadError extends UsertrustError {
  readonly problems: readonly PolicyProblem[];

  constructor(problems: readonly PolicyProblem[]) {
    const listed = problems.slice(0, PROBLEMS_IN_MESSAGE_MAX).map((p) => `  ${formatPolicyProblem(p)}`);
    const more = problems.length - listed.length;
    if (more > 0) listed.push(`  … and ${more} more`);
    super(
      "POLICY_INVALID",
      `Policy rules refused: ${problems.length} problem${problems.length === 1 ? "" : "s"}. ` +
        "Fix each one and reload; `usertrust policy validate` lists them all.\n" +
        listed.join("\n"),
    );
    this.problems = problems;
  }
}
