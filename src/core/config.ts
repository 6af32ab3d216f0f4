import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { canonicalTimeZone, isTimeZone } from "./budgets/calendar-period.ts";
import { ConfigError } from "./errors.ts";

const usdPerMTok = z.number().finite().nonnegative();

const modelPriceSchema = z.strictObject({
  inputPerMTok: usdPerMTok,
  outputPerMTok: usdPerMTok,
  cacheReadPerMTok: usdPerMTok.optional(),
  cacheWritePerMTok: usdPerMTok.optional(),
  cacheWrite1hPerMTok: usdPerMTok.optional(),
});

/** Fractions of a limit at which spend puts a warning on receipts and in the audit log. */
const warnAtSchema = z.array(
  z.number().gt(0, "a fraction of the limit above 0").max(1, "a fraction of the limit, at most 1"),
);

const scopedBudgetSchema = z.strictObject({
  /** A glob over call scopes ("team-a/**"); "**" covers every call, also those without a scope. */
  scope: z.string().min(1),
  /** Usertokens per period (1 UT = $0.0001). */
  limit: z.number().int().nonnegative(),
  period: z.enum(["day", "week", "month", "none"]).default("none"),
  /** Kept in its canonical spelling ("utc" → "UTC"), so every host names the same period account. */
  timeZone: z
    .string()
    .refine(isTimeZone, 'an IANA time zone such as "UTC" or "Europe/Paris"')
    .transform(canonicalTimeZone)
    .default("UTC"),
  warnAt: warnAtSchema.default([0.8, 0.95]),
});

const configSchema = z.strictObject({
  /** Budget cap in usertokens (1 UT = $0.0001). */
  budget: z.number().int().nonnegative(),
  /** Warning thresholds for `budget` (fractions); none by default. */
  warnAt: warnAtSchema.default([]),
  /** Budgets for groups of calls by scope, each reset per calendar period in its time zone. */
  budgets: z
    .array(scopedBudgetSchema)
    .default([])
    .superRefine((budgets, context) => {
      const seen = new Set<string>();
      budgets.forEach((budget, index) => {
        // Two entries with one ledger account would hold every call twice on it; a budget
        // without a period has one account whatever its time zone.
        const key =
          budget.period === "none" ? budget.scope : `${budget.scope}|${budget.period}|${budget.timeZone}`;
        if (seen.has(key)) {
          context.addIssue({
            code: "custom",
            path: [index, "scope"],
            message:
              budget.period === "none"
                ? `a second budget for scope "${budget.scope}" without a period; merge them into one`
                : `a second budget for scope "${budget.scope}" with the same period and time zone; merge them into one`,
          });
        }
        seen.add(key);
      });
    }),
  tier: z.enum(["free", "mini", "pro", "mega", "ultra"]).default("mini"),
  proxy: z.string().optional(),
  key: z.string().optional(),
  /** Policy files or folders, relative to the vault (`.usertrust/`) unless absolute. */
  policies: z.union([z.string(), z.array(z.string()).min(1)]).default("policies/default.yml"),
  /** What a hard policy deny does: block the call, or let it through and record a warning (warn) or only an audit event (log). */
  enforcement: z.enum(["block", "warn", "log"]).default("block"),
  /** PII in prompts: a mode, or { mode, restore } where restore puts redacted values back into the response text. */
  pii: z
    .union([
      z.enum(["redact", "warn", "block", "off"]),
      z.strictObject({
        mode: z.enum(["redact", "warn", "block", "off"]).default("warn"),
        restore: z.boolean().default(false),
      }),
    ])
    .default("warn"),
  /** Prompt-injection patterns in prompts. */
  injection: z.enum(["block", "warn", "off"]).default("warn"),
  board: z
    .strictObject({
      enabled: z.boolean().default(false),
      vetoThreshold: z.enum(["low", "medium", "high", "critical"]).default("medium"),
      /** What an escalated review does when no onEscalate callback decides: block it, or allow it (recorded). */
      escalation: z.enum(["block", "allow"]).default("block"),
      maxHistory: z.number().int().positive().default(100),
    })
    .prefault({}),
  circuitBreaker: z
    .strictObject({
      failureThreshold: z.number().int().positive().default(5),
      resetTimeout: z.number().int().positive().default(30_000),
    })
    .prefault({}),
  patterns: z
    .strictObject({ enabled: z.boolean().default(false), feedProxy: z.boolean().default(false) })
    .prefault({}),
  audit: z
    .strictObject({
      rotation: z
        .literal("none", {
          error: 'only "none" is supported in this release (daily/weekly rotation is planned)',
        })
        .default("none"),
      indexLimit: z.number().int().positive().default(10_000),
    })
    .prefault({}),
  /**
   * Where the money is kept: the embedded SQLite file (default), memory (dry run), a PostgreSQL
   * database shared by many hosts (`url`, and a `schema` for its tables, default "usertrust"), or a
   * TigerBeetle cluster (`addresses` and `clusterId`, default: the `tigerbeetle` section).
   */
  ledger: z
    .discriminatedUnion("kind", [
      z.strictObject({ kind: z.literal("sqlite") }),
      z.strictObject({ kind: z.literal("memory") }),
      z.strictObject({
        kind: z.literal("postgres"),
        url: z.string().min(1),
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/, "a lower-case SQL identifier (letters, digits, _)")
          .default("usertrust"),
      }),
      z.strictObject({
        kind: z.literal("tigerbeetle"),
        addresses: z.array(z.string().min(1)).min(1).optional(),
        clusterId: z.number().int().nonnegative().optional(),
      }),
    ])
    .default({ kind: "sqlite" }),
  tigerbeetle: z
    .strictObject({
      addresses: z.array(z.string()).default([]),
      clusterId: z.number().int().nonnegative().default(0),
    })
    .prefault({}),
  /** "normal" survives a process crash; "strict" also survives power loss (group-committed fsync). */
  durability: z.enum(["normal", "strict"]).default("normal"),
  /** How long a hold counts against the budget if its call never settles (crashed process). */
  holdTimeoutSeconds: z.number().int().min(1).max(86_400).default(600),
  /** Output tokens held for when a request sets no max_tokens. */
  defaultMaxOutputTokens: z.number().int().positive().default(4096),
  unknownModel: z
    .union([z.literal("deny"), z.literal("warn"), z.strictObject({ rate: modelPriceSchema })], {
      error: 'must be "deny", "warn" or { "rate": { "inputPerMTok": <USD>, "outputPerMTok": <USD> } }',
    })
    .default("deny"),
  /** Per-model prices (USD per million tokens) that take precedence over the bundled price table. */
  pricing: z.record(z.string(), modelPriceSchema).default({}),
});

export type TrustConfig = z.output<typeof configSchema>;
export type ModelPriceOverride = z.output<typeof modelPriceSchema>;
/** Config fields as written (defaults may be left out), for overrides passed in code. */
export type TrustConfigInput = z.input<typeof configSchema>;

/**
 * The file's config with fields passed in code on top (trust(), the middleware factories,
 * createEngine), validated by the same rules; an error names the option and the field.
 */
export function withOverrides(
  config: TrustConfig,
  overrides: Partial<TrustConfigInput>,
  source: string,
): TrustConfig {
  const result = configSchema.safeParse({ ...config, ...overrides });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue === undefined ? "" : issue.path.map(String).join(".");
  throw new ConfigError(source, issue?.message ?? "invalid option", { field });
}

/** What `usertrust init` writes: every field at its default, so users see what they can change. */
export function defaultConfig(budget = 50_000): TrustConfig {
  return configSchema.parse({ budget });
}

/** Reads and validates a vault config file. Errors name the file, the field and its line. */
export function loadConfig(file: string): TrustConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      file,
      `cannot read the config file (${(error as Error).message}). Run \`usertrust init\`.`,
    );
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): TrustConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, `not valid JSON: ${(error as Error).message}`, lineOfJsonError(text, error));
  }
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  // An unknown key first: a misspelt required field shows up as both, and the typo is the cause.
  const first = result.error.issues.find((i) => i.code === "unrecognized_keys") ?? result.error.issues[0];
  if (first === undefined) throw new ConfigError(file, "invalid config");
  const issue = innermostIssue(first, raw);
  const path = issue.path.map(String);
  const field =
    issue.code === "unrecognized_keys" ? [...path, issue.keys[0] ?? ""].join(".") : path.join(".");
  const line = lineOfPath(text, issue.code === "unrecognized_keys" ? [...path, issue.keys[0] ?? ""] : path);
  const hint = issue.code === "unrecognized_keys" ? "unknown field; check its spelling" : issue.message;
  return throwConfigError(file, hint, field, line);
}

type Issue = z.core.$ZodIssue;

/**
 * For a union whose value is an object, the object branch's own issue says what is missing
 * (e.g. `unknownModel.rate.outputPerMTok`), where the union's says only "invalid input".
 */
function innermostIssue(issue: Issue, raw: unknown): Issue {
  if (issue.code !== "invalid_union") return issue;
  const value = issue.path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown>)?.[key], raw);
  if (typeof value !== "object" || value === null) return issue;
  const inner = issue.errors
    .map((branch) => branch[0])
    .find((first) => first !== undefined && first.path.length > 0);
  return inner ? ({ ...inner, path: [...issue.path, ...inner.path] } as Issue) : issue;
}

function throwConfigError(file: string, message: string, field: string, line: number | undefined): never {
  const location: { field?: string; line?: number } = {};
  if (field !== "") location.field = field;
  if (line !== undefined) location.line = line;
  throw new ConfigError(file, message, location);
}

/** Line (1-based) where a JSON path's key sits, found through a YAML parse (YAML 1.2 is a superset of JSON). */
function lineOfPath(text: string, path: readonly string[]): number | undefined {
  const last = path[path.length - 1];
  if (last === undefined) return undefined;
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  const parent = path.length === 1 ? document.contents : document.getIn(path.slice(0, -1), true);
  let offset: number | undefined;
  if (isMap(parent)) {
    // JSON.parse keeps the last of duplicated keys, so point at the last one too.
    const pair = parent.items.findLast((item) => isScalar(item.key) && String(item.key.value) === last);
    offset = isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
  } else if (isSeq(parent)) {
    const item = parent.items[Number(last)];
    offset = isScalar(item) || isMap(item) || isSeq(item) ? item.range?.[0] : undefined;
  }
  return offset === undefined ? undefined : lineCounter.linePos(offset).line;
}

function lineOfJsonError(text: string, error: unknown): { line?: number } {
  const message = (error as Error).message;
  const lineMatch = /line (\d+)/.exec(message);
  if (lineMatch?.[1]) return { line: Number(lineMatch[1]) };
  const positionMatch = /position (\d+)/.exec(message);
  if (positionMatch?.[1]) return { line: text.slice(0, Number(positionMatch[1])).split("\n").length };
  return {};
}
