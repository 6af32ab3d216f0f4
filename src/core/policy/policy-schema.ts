import { z } from "zod";
import { DEFAULT_PRIORITY, FIELD_OPERATORS, type FieldOperator, POLICY_SEVERITIES } from "./policy-rule.ts";
import { findBacktrackingRisk } from "./regex-safety.ts";

/** Explicit limits: policy files are trusted config, but a typo should not cost memory or time. */
export const RULE_NAME_CHARS_MAX = 200;
export const FIELD_PATH_CHARS_MAX = 200;
export const REGEX_CHARS_MAX = 1000;
export const CONDITIONS_PER_RULE_MAX = 100;
export const LIST_VALUES_MAX = 10_000;

const SCALAR_OPERATORS = new Set<FieldOperator>(["eq", "neq"]);
const NUMERIC_OPERATORS = new Set<FieldOperator>(["gt", "gte", "lt", "lte"]);
const LIST_OPERATORS = new Set<FieldOperator>(["in", "not_in"]);
const PRESENCE_OPERATORS = new Set<FieldOperator>(["exists", "not_exists"]);

type Scalar = string | number | boolean | null;

function isScalar(value: unknown): value is Scalar {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

const conditionSchema = z
  .strictObject({
    field: z
      .string()
      .max(FIELD_PATH_CHARS_MAX, { error: `must be at most ${FIELD_PATH_CHARS_MAX} characters` })
      .regex(/^[^.]+(\.[^.]+)*$/, {
        error: 'must be a field name in dot notation, e.g. "model" or "metadata.team"',
      }),
    operator: z.enum(FIELD_OPERATORS, {
      error: (issue) =>
        `unknown operator ${JSON.stringify(issue.input)}; use one of ${FIELD_OPERATORS.join(", ")}`,
    }),
    value: z.unknown().optional(),
  })
  .superRefine((condition, context) => {
    const problem = conditionValueProblem(
      condition.operator,
      Object.hasOwn(condition, "value"),
      condition.value,
    );
    if (problem !== undefined) {
      context.addIssue({ code: "custom", message: problem.message, path: problem.atValue ? ["value"] : [] });
    }
  });

function conditionValueProblem(
  operator: FieldOperator,
  hasValue: boolean,
  value: unknown,
): { message: string; atValue: boolean } | undefined {
  const atValue = (message: string) => ({ message: `operator "${operator}" ${message}`, atValue: true });
  if (PRESENCE_OPERATORS.has(operator))
    return hasValue ? atValue("takes no value; remove `value`") : undefined;
  if (!hasValue) return { message: `operator "${operator}" needs a \`value\``, atValue: false };
  if (SCALAR_OPERATORS.has(operator) && !isScalar(value)) {
    return atValue('compares one value (a string, number, true/false or null); for a list use "in"');
  }
  if (NUMERIC_OPERATORS.has(operator) && (typeof value !== "number" || !Number.isFinite(value))) {
    return atValue(`compares numbers, so \`value\` must be a finite number, not ${describeValue(value)}`);
  }
  if (LIST_OPERATORS.has(operator)) {
    if (!Array.isArray(value)) return atValue(`needs a list, e.g. [a, b], not ${describeValue(value)}`);
    if (value.length > LIST_VALUES_MAX) return atValue(`takes at most ${LIST_VALUES_MAX} values`);
    if (!value.every(isScalar)) return atValue("needs a list of strings, numbers, true/false or null");
  }
  if (operator === "contains" && (!isScalar(value) || value === null)) {
    return atValue(`looks for one string (or a list element), not ${describeValue(value)}`);
  }
  if (operator === "regex") return regexProblem(value, atValue);
  return undefined;
}

function regexProblem(
  value: unknown,
  atValue: (message: string) => { message: string; atValue: boolean },
): { message: string; atValue: boolean } | undefined {
  if (typeof value !== "string") return atValue(`needs a pattern string, not ${describeValue(value)}`);
  if (value.length > REGEX_CHARS_MAX) return atValue(`patterns are limited to ${REGEX_CHARS_MAX} characters`);
  try {
    new RegExp(value);
  } catch (error) {
    return atValue(`has an invalid pattern: ${(error as Error).message}`);
  }
  if (hasPropertyEscape(value))
    return atValue(
      "uses a Unicode property escape (\\p{…} or \\P{…}), which a rule's regex (no `u` flag) reads as the " +
        "letters p{…}; write a character class instead (e.g. [A-Z] for \\p{Lu})",
    );
  const risk = findBacktrackingRisk(value);
  return risk === undefined ? undefined : atValue(`refuses this pattern: ${risk}`);
}

/** Whether `pattern` has a `\p{` or `\P{` escape (not a `\\` followed by the letters p{). */
function hasPropertyEscape(pattern: string): boolean {
  for (let at = 0; at < pattern.length; at++) {
    if (pattern[at] !== "\\") continue;
    const escaped = pattern[at + 1];
    if ((escaped === "p" || escaped === "P") && pattern[at + 2] === "{") return true;
    at++;
  }
  return false;
}

function hourSchema(lowest: number, highest: number) {
  const error = `must be a whole hour from ${lowest} to ${highest}`;
  return z.number({ error }).int({ error }).min(lowest, { error }).max(highest, { error });
}

const dayError = "must be a day number from 0 (Sunday) to 6 (Saturday)";

const timeWindowSchema = z
  .strictObject({
    daysOfWeek: z
      .array(
        z
          .number({ error: dayError })
          .int({ error: dayError })
          .min(0, { error: dayError })
          .max(6, { error: dayError }),
      )
      .min(1, { error: "an empty list would never match; remove `daysOfWeek` for every day" })
      .optional(),
    startHour: hourSchema(0, 23),
    endHour: hourSchema(0, 24),
    timeZone: z.string().optional(),
  })
  .superRefine((window, context) => {
    if (window.startHour === window.endHour) {
      context.addIssue({
        code: "custom",
        path: ["endHour"],
        message: "equals startHour, an empty window; use startHour 0 and endHour 24 for the whole day",
      });
    }
    if (window.timeZone !== undefined && !isKnownTimeZone(window.timeZone)) {
      context.addIssue({
        code: "custom",
        path: ["timeZone"],
        message: `unknown time zone ${JSON.stringify(window.timeZone)}; use an IANA name such as "Europe/Berlin" or "UTC"`,
      });
    }
  });

export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

function enumError(values: readonly string[]) {
  return (issue: { input: unknown }) =>
    `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}, not ${describeValue(issue.input)}`;
}

export const policyRuleSchema = z.strictObject({
  name: z
    .string()
    .min(1, { error: "must not be empty" })
    .max(RULE_NAME_CHARS_MAX, { error: `must be at most ${RULE_NAME_CHARS_MAX} characters` }),
  description: z.string().optional(),
  effect: z.enum(["deny", "warn"], { error: enumError(["deny", "warn"]) }),
  enforcement: z.enum(["hard", "soft"], { error: enumError(["hard", "soft"]) }),
  severity: z.enum(POLICY_SEVERITIES, { error: enumError(POLICY_SEVERITIES) }).optional(),
  priority: z.number().default(DEFAULT_PRIORITY),
  enabled: z.boolean().default(true),
  conditions: z
    .array(conditionSchema)
    .max(CONDITIONS_PER_RULE_MAX, { error: `a rule takes at most ${CONDITIONS_PER_RULE_MAX} conditions` }),
  scopePatterns: z
    .array(z.string().min(1, { error: "must not be empty" }))
    .min(1, { error: "an empty list would never match; remove `scopePatterns` to apply to every scope" })
    .optional(),
  timeWindows: z
    .array(timeWindowSchema)
    .min(1, { error: "an empty list would never match; remove `timeWindows` to apply at all times" })
    .optional(),
});

export const policyRuleListSchema = z.array(policyRuleSchema);
export const policyDocumentSchema = z.strictObject({ rules: policyRuleListSchema });

/** The keys allowed in the object at `path`, to explain an unknown key. */
export function allowedKeysAt(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return Object.keys(policyDocumentSchema.shape);
  const parent = path[path.length - 2];
  if (parent === "conditions") return Object.keys(conditionSchema.shape);
  if (parent === "timeWindows") return Object.keys(timeWindowSchema.shape);
  return Object.keys(policyRuleSchema.shape);
}

/** A value as a message shows it: its type and, when short, the value itself. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  // JSON has no spelling for these (it would show them as null); YAML writes them .inf and .nan.
  if (Number.isNaN(value)) return ".nan (not a number)";
  if (value === Number.POSITIVE_INFINITY) return ".inf (infinity)";
  if (value === Number.NEGATIVE_INFINITY) return "-.inf (minus infinity)";
  const shown = JSON.stringify(value);
  return `${typeof value === "number" ? "the number" : typeof value === "string" ? "the string" : ""} ${
    shown.length > 40 ? `${shown.slice(0, 40)}…` : shown
  }`.trim();
}

/** `rules[0].conditions[1].value`; a bare list's paths start with `[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const key of path)
    text += typeof key === "number" ? `[${key}]` : text === "" ? String(key) : `.${String(key)}`;
  return text;
}
