import { readFileSync } from "node:fs";
import { z } from "zod";
import { MAX_HISTORY_LIMIT } from "./board/board.ts";
import { canonicalTimeZone, isTimeZone } from "./budgets/calendar-period.ts";
import { jsonErrorPosition, lineOfPath } from "./config-locations.ts";
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

const policyPath = z.string().min(1, "an empty path; name a policy file or folder");

const piiMode = z.enum(["redact", "warn", "block", "off"]);

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
  /**
   * Policy files or folders, relative to the vault (`.usertrust/`) unless absolute. An empty path
   * would name the vault folder itself, whose *.json is this config file, so it is refused.
   */
  policies: z
    .union(
      [policyPath, z.array(policyPath).min(1, "an empty list; name at least one policy file or folder")],
      {
        error: "must be a policy file or folder (relative to .usertrust/ unless absolute), or a list of them",
      },
    )
    .default("policies/default.yml"),
  /** What a hard policy deny does: block the call, or let it through and record a warning (warn) or only an audit event (log). */
  enforcement: z.enum(["block", "warn", "log"]).default("block"),
  /** PII in prompts: a mode, or { mode, restore } where restore puts redacted values back into the response text. */
  pii: z
    .union(
      [
        piiMode,
        z.strictObject({
          mode: piiMode.default("warn"),
          restore: z.boolean().default(false),
        }),
      ],
      { error: 'must be "off", "warn", "block" or "redact", or { "mode": "redact", "restore": true }' },
    )
    .default("warn"),
  /** Prompt-injection patterns in prompts. */
  injection: z.enum(["block", "warn", "off"]).default("warn"),
  board: z
    .strictObject({
      enabled: z.boolean().default(false),
      vetoThreshold: z.enum(["low", "medium", "high", "critical"]).default("medium"),
      /** What an escalated review does when no onEscalate callback decides: block it, or allow it (recorded). */
      escalation: z.enum(["block", "allow"]).default("block"),
      /** The board refuses more history than MAX_HISTORY_LIMIT; refusing it here names the line. */
      maxHistory: z
        .number()
        .int()
        .positive()
        .max(MAX_HISTORY_LIMIT, `at most ${MAX_HISTORY_LIMIT} entries, the most the board keeps`)
        .default(100),
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
 * Values an override replaces as a whole rather than field by field: a ledger of another kind has
 * other fields, and a price (a model's, or the unknown-model rate) is one price, never half the
 * file's. `*` stands for any key.
 */
const REPLACED_WHOLE: readonly (readonly string[])[] = [["ledger"], ["unknownModel"], ["pricing", "*"]];

function replacedWhole(path: readonly string[]): boolean {
  return REPLACED_WHOLE.some(
    (pattern) =>
      pattern.length === path.length && pattern.every((key, index) => key === "*" || key === path[index]),
  );
}

/** Shorthands a section may be written in, expanded when an override gives the section as an object. */
const SHORTHANDS: Readonly<Record<string, (value: string) => Record<string, unknown>>> = {
  // `"pii": "redact"` is `{ mode: "redact", restore: false }`: `{ restore: true }` over it keeps redacting.
  pii: (mode) => ({ mode, restore: false }),
};

/**
 * The file's config with fields passed in code on top (trust(), the middleware factories,
 * createEngine), validated by the same rules; an error names the option and the field. Sections
 * merge field by field, so `{ board: { escalation: "allow" } }` keeps the rest of the file's board.
 */
export function withOverrides(
  config: TrustConfig,
  overrides: Partial<TrustConfigInput>,
  source: string,
): TrustConfig {
  const merged = mergeValue(config, overrides, []);
  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;
  const report = reportIssue(result.error.issues, merged);
  if (report === undefined) throw new ConfigError(source, "invalid option");
  return throwConfigError(source, report.hint, report.path.join("."), undefined);
}

/**
 * Plain objects merge key by key, and a key left undefined keeps the base's value; anything else
 * (a list, a string, a number) replaces. The recursion only descends where the validated base has an
 * object, which is at most three levels deep, so it ends whatever the override holds.
 */
function mergeValue(base: unknown, override: unknown, path: readonly string[]): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const merged = new Map(Object.entries(base));
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) continue;
    const at = [...path, key];
    let current = merged.get(key);
    const expand = path.length === 0 && Object.hasOwn(SHORTHANDS, key) ? SHORTHANDS[key] : undefined;
    if (typeof current === "string" && isPlainObject(value) && expand !== undefined)
      current = expand(current);
    merged.set(key, replacedWhole(at) ? value : mergeValue(current, value, at));
  }
  // fromEntries defines a "__proto__" key as an own field, so the schema sees it and refuses it.
  return Object.fromEntries(merged);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
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

const BYTE_ORDER_MARK = "\uFEFF";

export function parseConfig(source: string, file: string): TrustConfig {
  // Editors on Windows may save UTF-8 with a byte order mark, which JSON.parse refuses.
  const text = source.startsWith(BYTE_ORDER_MARK) ? source.slice(1) : source;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const { line, column } = jsonErrorPosition(text);
    throw new ConfigError(file, `not valid JSON at column ${column}: ${(error as Error).message}`, { line });
  }
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const report = reportIssue(result.error.issues, raw);
  if (report === undefined) throw new ConfigError(file, "invalid config");
  return throwConfigError(file, report.hint, report.path.join("."), lineOfPath(text, report.path));
}

type Issue = z.core.$ZodIssue;

/** The issue to report: the path of the field it is about, and what to tell the user. */
function reportIssue(issues: readonly Issue[], raw: unknown): { path: string[]; hint: string } | undefined {
  // An unknown key first: a misspelt required field shows up as both, and the typo is the cause.
  const first = issues.find((i) => i.code === "unrecognized_keys") ?? issues[0];
  if (first === undefined) return undefined;
  const issue = innermostIssue(first, raw);
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    return { path: [...path, issue.keys[0] ?? ""], hint: "unknown field; check its spelling" };
  }
  return { path, hint: issue.message };
}

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
