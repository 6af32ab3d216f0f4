import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { verifyChain } from "../core/audit/verify-chain.ts";
import { defaultConfig, loadConfig } from "../core/config.ts";
import { UsertrustError } from "../core/errors.ts";
import type { GovernedRequest } from "../core/governed-request.ts";
import { evaluatePolicies } from "../core/policy/evaluate-policies.ts";
import { providerOfModel } from "../core/policy/model-provider.ts";
import { policyContext } from "../core/policy/policy-context.ts";
import { listPolicyFiles, loadPolicies, type PolicySource } from "../core/policy/policy-file.ts";
import { formatPolicyProblem, PolicyLoadError } from "../core/policy/policy-load-error.ts";
import type { PolicyRule } from "../core/policy/policy-rule.ts";
import { resolvePolicySources } from "../core/policy/policy-sources.ts";
import { splitRules } from "../core/policy/rule-view.ts";
import { initVault, resolveVault, type VaultPaths } from "../core/vault.ts";
import { boardReport } from "./board-command.ts";
import { EXIT_FINDING, EXIT_OK, EXIT_USAGE, type Output } from "./cli-io.ts";
import { CLI_OPTIONS, type CliOption, HELP, usageProblem } from "./command-usage.ts";
import { budgets, status, vaultBalance } from "./ledger-commands.ts";

export { EXIT_FINDING, EXIT_OK, EXIT_USAGE } from "./cli-io.ts";

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
  const given = (Object.keys(CLI_OPTIONS) as CliOption[]).filter((option) => values[option] !== undefined);
  const problem = usageProblem(positionals, given);
  if (problem !== undefined) {
    io.err.write(problem);
    return EXIT_USAGE;
  }
  try {
    // Inside the try: a --config that names a folder is refused with a ConfigError.
    const paths = resolveVault({ vaultBase: values["vault-base"], configPath: values.config });
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
      case "board":
        return boardReport(paths, values, io);
      default:
        throw new RangeError(`usageProblem let through the unknown command "${command}"`);
    }
  } catch (error) {
    const message = error instanceof UsertrustError ? error.message : String(error);
    io.err.write(`usertrust ${command}: ${message}\n`);
    return EXIT_USAGE;
  }
}

function parse(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, options: CLI_OPTIONS });
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
  // An empty log verifies as OK, so a mistyped path must not: it would vouch for nothing.
  if (![paths.config, paths.auditLog, paths.auditHead].some((file) => existsSync(file))) {
    io.err.write(
      `usertrust verify: no vault at ${paths.root} (no config, audit log or ledger.db there); ` +
        "check --vault-base or --config, or run `usertrust init` to create one.\n",
    );
    return EXIT_USAGE;
  }
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

type CliValues = ReturnType<typeof parse>["values"];

async function policy(
  paths: VaultPaths,
  args: string[],
  values: CliValues,
  io: { out: Output; err: Output },
): Promise<number> {
  // usageProblem let only `policy validate` and `policy test` through.
  const [subcommand, ...files] = args;
  const sources = files.length > 0 ? files : vaultPolicySources(paths);
  return subcommand === "validate"
    ? validatePolicies(sources, values.json === true, io)
    : await testPolicies(paths, sources, values, io);
}

/** The config's `policies` paths, resolved as the engine resolves them (only the default file may be missing). */
function vaultPolicySources(paths: VaultPaths): PolicySource[] {
  const config = existsSync(paths.config) ? loadConfig(paths.config) : defaultConfig();
  return resolvePolicySources(config, paths);
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
  // A model call is decided by the call rules only, as the engine decides it: rules that read
  // tool_name / tool_args decide the tool calls a model asks for, never the model call itself.
  const { callRules, toolRules } = splitRules(loadPolicies(sources));
  const vault = await vaultBalance(paths);
  // The engine's own context, so rules see the documented fields (snake_case and the first
  // policy's camelCase names, the time fields of --at, the tier); a plain copy, for --field.
  const called: GovernedRequest = {
    provider: request.provider ?? "",
    model: request.model,
    promptParts: [],
    maxOutputTokens: undefined,
    scope: request.scope,
  };
  const context: Record<string, unknown> = {
    ...policyContext(
      { request: called, holdUsertokens: request.costUsertokens, maxOutputTokens: 0, now: request.at },
      vault?.balance,
      vault?.config ?? defaultConfig(),
    ),
  };
  // A provider neither given nor known from the price table stays missing, so a hard deny that
  // reads it fails closed and says so, rather than deciding on a provider no call would have.
  if (request.provider === undefined) delete context.provider;
  for (const [field, value] of request.fields) setField(context, field, value);

  const result = evaluatePolicies(callRules, context, request.at);
  if (values.json) {
    io.out.write(`${JSON.stringify({ ...result, context, rulesEvaluated: callRules.length })}\n`);
  } else {
    io.out.write(`Request: ${JSON.stringify(context)}\n`);
    if (request.provider === undefined) {
      io.out.write(`Provider: unknown for model "${request.model}"; give --provider to set it.\n`);
    }
    if (result.matched.length === 0) io.out.write("No rule matched.\n");
    for (const match of result.hardViolations) io.out.write(`  DENY  ${match.reason}\n`);
    for (const match of result.softViolations) io.out.write(`  WARN  ${match.reason}\n`);
    const counts = [
      plural(result.hardViolations.length, "hard violation"),
      plural(result.softViolations.length, "warning"),
    ].join(", ");
    const skipped =
      toolRules.length === 0
        ? ""
        : `; ${plural(toolRules.length, "tool-call rule")} not applied to a model call`;
    io.out.write(
      `Decision: ${result.decision} (${counts}; ${plural(callRules.length, "rule")} evaluated${skipped})\n`,
    );
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
    provider: values.provider ?? providerOfModel(values.model),
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

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
