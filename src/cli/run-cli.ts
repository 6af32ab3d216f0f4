import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { verifyChain } from "../core/audit/verify-chain.ts";
import { type BudgetReport, budgetReport } from "../core/budgets/budget-report.ts";
import { percentOf } from "../core/budgets/scoped-budgets.ts";
import { defaultConfig, loadConfig } from "../core/config.ts";
import { UsertrustError } from "../core/errors.ts";
import { MemoryLedger } from "../core/ledger/memory-ledger.ts";
import { openLedger, selectedLedger } from "../core/ledger/open-ledger.ts";
import { SqliteLedger } from "../core/ledger/sqlite-ledger.ts";
import { evaluatePolicies } from "../core/policy/evaluate-policies.ts";
import { listPolicyFiles, loadPolicies, type PolicySource } from "../core/policy/policy-file.ts";
import { formatPolicyProblem, PolicyLoadError } from "../core/policy/policy-load-error.ts";
import type { PolicyRule } from "../core/policy/policy-rule.ts";
import { initVault, resolveVault, type VaultPaths } from "../core/vault.ts";

/** Exit codes: 0 all good, 1 a finding (broken chain, …), 2 bad usage or an error. */
export const EXIT_OK = 0;
export const EXIT_FINDING = 1;
export const EXIT_USAGE = 2;

interface Output {
  write(text: string): unknown;
}

const HELP = `usertrust <command> [options]

Commands:
  init      Create the vault (.usertrust/) with a default config and policy; keeps existing files.
  verify    Recompute the audit chain; exit 1 naming the first bad line.
  status    Show the budget, what is spent and what is held.
  budget    Show every budget (the vault's and each scoped one at its current period): limit,
            spent, held, remaining and when it resets.
  policy validate [FILE…]
            Check policy files (default: the vault's, per config \`policies\`); list every problem
            as file:line:column and exit 1 if there is any.
  policy test [FILE…] --model M --cost UT [--provider P] [--scope S…] [--field K=V…] [--at TIME]
            Decide a made-up request against the policy rules; exit 0 allowed, 1 denied.

Options:
  --vault-base DIR   Folder holding .usertrust/ (default: the working directory)
  --config FILE      An explicit config file (its folder is the vault)
  --budget UT        init only: the budget to write into a new config (usertokens; 1 UT = $0.0001)
  --model M          policy test: the request's model
  --cost UT          policy test: the request's estimated cost (usertokens)
  --provider P       policy test: the request's provider
  --scope S          policy test: a scope of the request, e.g. production/api (repeatable)
  --field K=V        policy test: any other field, dot notation for nesting; V is read as JSON
                     when it parses (5, true, ["a"]), else as text (repeatable)
  --at TIME          policy test: evaluate at this ISO 8601 time instead of now
  --json             Machine-readable output
  -h, --help         This help
`;

/** Options only `policy test` reads; anywhere else they are a mistake, not something to ignore. */
const POLICY_TEST_OPTIONS = ["model", "cost", "provider", "scope", "field", "at"] as const;

export async function runCli(argv: string[], io: { out: Output; err: Output }): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err.write(`usertrust: ${(error as Error).message}\n\n${HELP}`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || command === undefined || command === "help") {
    io.out.write(HELP);
    return command === undefined && !values.help ? EXIT_USAGE : EXIT_OK;
  }
  const paths = resolveVault({ vaultBase: values["vault-base"], configPath: values.config });
  const misplaced = POLICY_TEST_OPTIONS.find((option) => values[option] !== undefined);
  if (misplaced !== undefined && !(command === "policy" && positionals[1] === "test")) {
    io.err.write(`usertrust: --${misplaced} is an option of \`usertrust policy test\`\n\n${HELP}`);
    return EXIT_USAGE;
  }
  try {
    switch (command) {
      case "init":
        return init(paths, values, io);
      case "verify":
        return verify(paths, values.json === true, io);
      case "status":
        return await status(paths, values.json === true, io);
      case "budget":
        return await budgets(paths, values.json === true, io);
      case "policy":
        return await policy(paths, positionals.slice(1), values, io);
      default:
        io.err.write(`usertrust: unknown command "${command}"\n\n${HELP}`);
        return EXIT_USAGE;
    }
  } catch (error) {
    const message = error instanceof UsertrustError ? error.message : String(error);
    io.err.write(`usertrust ${command}: ${message}\n`);
    return EXIT_USAGE;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "vault-base": { type: "string" },
      config: { type: "string" },
      budget: { type: "string" },
      model: { type: "string" },
      cost: { type: "string" },
      provider: { type: "string" },
      scope: { type: "string", multiple: true },
      field: { type: "string", multiple: true },
      at: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

function init(
  paths: ReturnType<typeof resolveVault>,
  values: { budget?: string | undefined; json?: boolean | undefined },
  io: { out: Output; err: Output },
): number {
  const budget = values.budget === undefined ? undefined : Number(values.budget);
  if (values.budget !== undefined && !(/^\d+$/.test(values.budget) && Number.isSafeInteger(budget))) {
    io.err.write(`usertrust init: --budget must be a whole number of usertokens, got "${values.budget}"\n`);
    return EXIT_USAGE;
  }
  const result = initVault(paths, budget === undefined ? {} : { budget });
  if (values.json) {
    io.out.write(`${JSON.stringify({ vault: paths.root, created: result.created, kept: result.kept })}\n`);
  } else {
    io.out.write(`Vault: ${paths.root}\n`);
    for (const file of result.created) io.out.write(`  created ${file}\n`);
    for (const file of result.kept) io.out.write(`  kept    ${file} (already there)\n`);
  }
  return EXIT_OK;
}

function verify(
  paths: ReturnType<typeof resolveVault>,
  json: boolean,
  io: { out: Output; err: Output },
): number {
  const result = verifyChain(paths.auditLog, { headPath: paths.auditHead });
  if (json) {
    io.out.write(`${JSON.stringify(result)}\n`);
  } else if (result.ok) {
    io.out.write(`OK: ${result.events} events verified in ${result.path} (last hash ${result.lastHash})\n`);
  } else if (result.problem) {
    io.out.write(
      `BROKEN at ${result.path}:${result.problem.line} (${result.problem.kind}): ${result.problem.message}\n` +
        `${result.events} event(s) before it verified.\n`,
    );
  }
  return result.ok ? EXIT_OK : EXIT_FINDING;
}

async function status(
  paths: ReturnType<typeof resolveVault>,
  json: boolean,
  io: { out: Output; err: Output },
): Promise<number> {
  const config = loadConfig(paths.config);
  const embedded = selectedLedger(config).kind === "sqlite";
  if (embedded && !existsSync(paths.ledger)) {
    io.err.write(
      `usertrust status: no ledger at ${paths.ledger}; make a governed call (without dryRun) first.\n`,
    );
    return EXIT_USAGE;
  }
  const ledger = await openLedger(config, { database: paths.ledger, dryRun: false, source: paths.config });
  try {
    const balance = await ledger.balance();
    const kind = selectedLedger(config).kind;
    if (json) io.out.write(`${JSON.stringify({ vault: paths.root, ledger: kind, ...balance })}\n`);
    else {
      io.out.write(
        `Vault ${paths.root} (${ledgerLabel(kind)})\n` +
          `  budget    ${formatUt(balance.budgetUsertokens)}\n` +
          `  spent     ${formatUt(balance.postedUsertokens)}\n` +
          `  held      ${formatUt(balance.pendingUsertokens)}\n` +
          `  remaining ${formatUt(balance.remainingUsertokens)}\n`,
      );
    }
    return EXIT_OK;
  } finally {
    await ledger.close();
  }
}

async function budgets(paths: VaultPaths, json: boolean, io: { out: Output; err: Output }): Promise<number> {
  const config = loadConfig(paths.config);
  const now = Date.now();
  // An embedded vault without ledger.db has spent nothing yet: its budgets are read off the config.
  const ledger =
    selectedLedger(config).kind === "sqlite" && !existsSync(paths.ledger)
      ? new MemoryLedger({ budgetUsertokens: config.budget })
      : await openLedger(config, { database: paths.ledger, dryRun: false, source: paths.config });
  let report: BudgetReport;
  try {
    report = await budgetReport(ledger, config, now);
  } finally {
    await ledger.close();
  }
  if (json) {
    const at = new Date(now).toISOString();
    const kind = selectedLedger(config).kind;
    io.out.write(`${JSON.stringify({ vault: paths.root, ledger: kind, at, budgets: report })}\n`);
    return EXIT_OK;
  }
  const rows = report.map((line) => [
    line.name,
    formatCount(line.limitUsertokens),
    formatCount(line.spentUsertokens),
    formatCount(line.heldUsertokens),
    formatCount(line.remainingUsertokens),
    line.limitUsertokens === 0 ? "-" : `${percentOf(line.spentUsertokens, line.limitUsertokens)}%`,
    line.resetsAt ?? "never",
  ]);
  io.out.write(
    `Budgets of ${paths.root} (${ledgerLabel(selectedLedger(config).kind)}; usertokens, 1 UT = $0.0001)\n`,
  );
  io.out.write(formatTable(["budget", "limit", "spent", "held", "remaining", "used", "resets"], rows));
  return EXIT_OK;
}

/** Which ledger the numbers come from; a memory vault keeps nothing between runs, so it says so. */
function ledgerLabel(kind: string): string {
  return kind === "memory" ? "memory ledger: nothing is kept between runs" : `${kind} ledger`;
}

function formatCount(usertokens: number): string {
  return usertokens.toLocaleString("en-US");
}

/** Left-aligned first column, right-aligned numbers, two spaces between columns. */
function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  return all
    .map((row) =>
      row
        .map((cell, column) =>
          column === 0 || column === row.length - 1
            ? cell.padEnd(widths[column] ?? 0)
            : cell.padStart(widths[column] ?? 0),
        )
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `  ${line}\n`)
    .join("");
}

function formatUt(usertokens: number): string {
  return `${usertokens.toLocaleString("en-US")} UT ($${(usertokens / 10_000).toFixed(4)})`;
}

type CliValues = ReturnType<typeof parse>["values"];

async function policy(
  paths: VaultPaths,
  args: string[],
  values: CliValues,
  io: { out: Output; err: Output },
): Promise<number> {
  const [subcommand, ...files] = args;
  if (subcommand !== "validate" && subcommand !== "test") {
    const what = subcommand === undefined ? "needs a subcommand" : `has no subcommand "${subcommand}"`;
    io.err.write(`usertrust policy ${what}: use \`policy validate\` or \`policy test\`\n\n${HELP}`);
    return EXIT_USAGE;
  }
  const sources = files.length > 0 ? files : vaultPolicySources(paths);
  return subcommand === "validate"
    ? validatePolicies(sources, values.json === true, io)
    : await testPolicies(paths, sources, values, io);
}

/** The config's `policies` paths, resolved in the vault; only the default file may be missing. */
function vaultPolicySources(paths: VaultPaths): PolicySource[] {
  const defaultSetting = defaultConfig().policies;
  const setting = existsSync(paths.config) ? loadConfig(paths.config).policies : defaultSetting;
  return (Array.isArray(setting) ? setting : [setting]).map((path) => ({
    path: resolve(paths.root, path),
    optional: path === defaultSetting,
  }));
}

function validatePolicies(sources: PolicySource[], json: boolean, io: { out: Output; err: Output }): number {
  const { files } = listPolicyFiles(sources);
  let rules: PolicyRule[];
  try {
    rules = loadPolicies(sources);
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    const { problems } = error;
    if (json) io.out.write(`${JSON.stringify({ ok: false, files, rules: 0, problems })}\n`);
    else {
      for (const problem of problems) io.out.write(`${formatPolicyProblem(problem)}\n`);
      io.out.write(`${plural(problems.length, "problem")}; no rule was loaded.\n`);
    }
    return EXIT_FINDING;
  }
  if (json) io.out.write(`${JSON.stringify({ ok: true, files, rules: rules.length, problems: [] })}\n`);
  else if (files.length === 0) {
    const where = sources.map((source) => (typeof source === "string" ? source : source.path)).join(", ");
    io.out.write(`OK: no policy file at ${where}; no rules apply.\n`);
  } else {
    io.out.write(`OK: ${plural(rules.length, "rule")} in ${plural(files.length, "file")}\n`);
    for (const file of files) io.out.write(`  ${file}\n`);
  }
  return EXIT_OK;
}

async function testPolicies(
  paths: VaultPaths,
  sources: PolicySource[],
  values: CliValues,
  io: { out: Output; err: Output },
): Promise<number> {
  const request = policyTestRequest(values);
  if (typeof request === "string") {
    io.err.write(`usertrust policy test: ${request}\n`);
    return EXIT_USAGE;
  }
  const rules = loadPolicies(sources);
  const context: Record<string, unknown> = { ...(await vaultBudget(paths, request.costUsertokens)) };
  context.model = request.model;
  if (request.provider !== undefined) context.provider = request.provider;
  context.estimatedCost = request.costUsertokens;
  context.scope = request.scope;
  for (const [field, value] of request.fields) setField(context, field, value);

  const result = evaluatePolicies(rules, context, request.at);
  if (values.json) {
    io.out.write(`${JSON.stringify({ ...result, context, rulesEvaluated: rules.length })}\n`);
  } else {
    io.out.write(`Request: ${JSON.stringify(context)}\n`);
    if (result.matched.length === 0) io.out.write("No rule matched.\n");
    for (const match of result.hardViolations) io.out.write(`  DENY  ${match.reason}\n`);
    for (const match of result.softViolations) io.out.write(`  WARN  ${match.reason}\n`);
    const counts = [
      plural(result.hardViolations.length, "hard violation"),
      plural(result.softViolations.length, "warning"),
    ].join(", ");
    io.out.write(`Decision: ${result.decision} (${counts}; ${plural(rules.length, "rule")} evaluated)\n`);
  }
  return result.decision === "deny" ? EXIT_FINDING : EXIT_OK;
}

interface PolicyTestRequest {
  model: string;
  provider: string | undefined;
  costUsertokens: number;
  scope: string[];
  fields: Array<[string, unknown]>;
  at: Date;
}

/** The request `policy test` decides, from its flags; a string says which flag is wrong. */
function policyTestRequest(values: CliValues): PolicyTestRequest | string {
  if (values.model === undefined) return "--model is required (the model the request would call)";
  if (values.cost === undefined) return "--cost is required (the estimated cost in usertokens)";
  if (!/^\d+$/.test(values.cost) || !Number.isSafeInteger(Number(values.cost))) {
    return `--cost must be a whole number of usertokens, got "${values.cost}"`;
  }
  const at = values.at === undefined ? new Date() : new Date(values.at);
  if (Number.isNaN(at.getTime()))
    return `--at must be an ISO 8601 time such as 2026-03-09T14:30:00Z, got "${values.at}"`;
  const fields: Array<[string, unknown]> = [];
  for (const assignment of values.field ?? []) {
    const separator = assignment.indexOf("=");
    const field = assignment.slice(0, separator);
    if (separator <= 0 || !/^[^.]+(\.[^.]+)*$/.test(field)) {
      return `--field takes FIELD=VALUE with a dot-notation field, e.g. metadata.team=search; got "${assignment}"`;
    }
    fields.push([field, fieldValue(assignment.slice(separator + 1))]);
  }
  return {
    model: values.model,
    provider: values.provider,
    costUsertokens: Number(values.cost),
    scope: values.scope ?? [],
    fields,
    at,
  };
}

/** A --field value is JSON when it parses as JSON (numbers, true, lists), otherwise plain text. */
function fieldValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function setField(context: Record<string, unknown>, field: string, value: unknown): void {
  const keys = field.split(".");
  const last = keys.pop() as string;
  let node = context;
  for (const key of keys) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[last] = value;
}

/**
 * The budget fields the default rules read. The ledger knows what is spent and held; without one
 * yet, the config's budget is all there is and nothing is spent.
 */
async function vaultBudget(paths: VaultPaths, costUsertokens: number): Promise<Record<string, number>> {
  let budget: number;
  let remaining: number;
  if (existsSync(paths.ledger)) {
    const ledger = new SqliteLedger({ path: paths.ledger });
    try {
      const balance = await ledger.balance();
      budget = balance.budgetUsertokens;
      remaining = balance.remainingUsertokens;
    } finally {
      await ledger.close();
    }
  } else if (existsSync(paths.config)) {
    budget = loadConfig(paths.config).budget;
    remaining = budget;
  } else {
    return {};
  }
  return { budget, budgetRemaining: remaining, budgetRemainingAfterEstimate: remaining - costUsertokens };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
