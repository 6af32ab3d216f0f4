import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { verifyChain } from "../core/audit/verify-chain.ts";
import { UsertrustError } from "../core/errors.ts";
import { SqliteLedger } from "../core/ledger/sqlite-ledger.ts";
import { initVault, resolveVault } from "../core/vault.ts";

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

Options:
  --vault-base DIR   Folder holding .usertrust/ (default: the working directory)
  --config FILE      An explicit config file (its folder is the vault)
  --budget UT        init only: the budget to write into a new config (usertokens; 1 UT = $0.0001)
  --json             Machine-readable output
  -h, --help         This help
`;

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
  try {
    switch (command) {
      case "init":
        return init(paths, values, io);
      case "verify":
        return verify(paths, values.json === true, io);
      case "status":
        return await status(paths, values.json === true, io);
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
  if (!existsSync(paths.ledger)) {
    io.err.write(
      `usertrust status: no ledger at ${paths.ledger}; make a governed call (without dryRun) first.\n`,
    );
    return EXIT_USAGE;
  }
  const ledger = new SqliteLedger({ path: paths.ledger });
  try {
    const balance = await ledger.balance();
    if (json) io.out.write(`${JSON.stringify({ vault: paths.root, ...balance })}\n`);
    else {
      io.out.write(
        `Vault ${paths.root}\n` +
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

function formatUt(usertokens: number): string {
  return `${usertokens.toLocaleString("en-US")} UT ($${(usertokens / 10_000).toFixed(4)})`;
}
