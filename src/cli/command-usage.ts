/**
 * What each `usertrust` command takes: its options and whether it takes files. An argument a command
 * does not take is bad usage (exit 2), never ignored: `usertrust verify path/to/project` must not
 * verify the working directory's vault and say OK.
 */

export const HELP = `usertrust <command> [options]

Commands:
  init      Create the vault (.usertrust/) with a default config and policy; keeps existing files.
  verify    Recompute the audit chain; exit 1 naming the first bad line, 2 when there is no vault.
  status    Show the budget, what is spent and what is held.
  budget    Show every budget (the vault's and each scoped one at its current period): limit,
            spent, held, remaining and when it resets.
  policy validate [FILE…]
            Check policy files (default: the vault's, per config \`policies\`); list every problem
            as file:line:column and exit 1 if there is any.
  policy test [FILE…] --model M --cost UT [--provider P] [--scope S…] [--field K=V…] [--at TIME]
            Decide a made-up model call against the policy rules, as a real call would be decided
            (rules on tool_name / tool_args decide tool calls, so they do not apply); exit 0
            allowed, 1 denied.
  board [--limit N]
            Show the board of directors' review totals and its newest reviews (default 20).

Options:
  --vault-base DIR   Folder holding .usertrust/ (default: the working directory)
  --config FILE      An explicit config file (its folder is the vault)
  --budget UT        init only: the budget to write into a new config (usertokens; 1 UT = $0.0001)
  --model M          policy test: the request's model
  --cost UT          policy test: the request's estimated cost (usertokens)
  --provider P       policy test: the request's provider (default: the model's in the price
                     table, e.g. gpt-4o → openai; missing when the table does not know the model)
  --scope S          policy test: a scope of the request, e.g. production/api (repeatable)
  --field K=V        policy test: any other field, dot notation for nesting; V is read as JSON
                     when it parses (5, true, ["a"]), else as text (repeatable)
  --at TIME          policy test: evaluate at this ISO 8601 time instead of now
  --limit N          board: list the newest N reviews (at most board.maxHistory)
  --json             Machine-readable output
  -h, --help         This help
`;

/** Every option the parser knows; which command takes which is in COMMANDS. */
export const CLI_OPTIONS = {
  "vault-base": { type: "string" },
  config: { type: "string" },
  budget: { type: "string" },
  model: { type: "string" },
  cost: { type: "string" },
  provider: { type: "string" },
  scope: { type: "string", multiple: true },
  field: { type: "string", multiple: true },
  at: { type: "string" },
  limit: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export type CliOption = keyof typeof CLI_OPTIONS;

interface CommandUsage {
  /** The words after `usertrust` that name it. */
  words: readonly string[];
  options: readonly CliOption[];
  /** Takes policy files after its words. */
  takesFiles: boolean;
  usage: string;
}

const VAULT_OPTIONS: readonly CliOption[] = ["vault-base", "config", "json", "help"];
const VAULT_USAGE = "[--vault-base DIR] [--config FILE] [--json]";
const POLICY_TEST_OPTIONS: readonly CliOption[] = ["model", "cost", "provider", "scope", "field", "at"];

const COMMANDS: readonly CommandUsage[] = [
  {
    words: ["init"],
    options: [...VAULT_OPTIONS, "budget"],
    takesFiles: false,
    usage: "usertrust init [--vault-base DIR] [--config FILE] [--budget UT] [--json]",
  },
  { words: ["verify"], options: VAULT_OPTIONS, takesFiles: false, usage: `usertrust verify ${VAULT_USAGE}` },
  { words: ["status"], options: VAULT_OPTIONS, takesFiles: false, usage: `usertrust status ${VAULT_USAGE}` },
  { words: ["budget"], options: VAULT_OPTIONS, takesFiles: false, usage: `usertrust budget ${VAULT_USAGE}` },
  {
    words: ["policy", "validate"],
    options: VAULT_OPTIONS,
    takesFiles: true,
    usage: `usertrust policy validate [FILE…] ${VAULT_USAGE}`,
  },
  {
    words: ["policy", "test"],
    options: [...VAULT_OPTIONS, ...POLICY_TEST_OPTIONS],
    takesFiles: true,
    usage:
      "usertrust policy test [FILE…] --model M --cost UT [--provider P] [--scope S]… [--field K=V]… " +
      `[--at ISO] ${VAULT_USAGE}`,
  },
  {
    words: ["board"],
    options: [...VAULT_OPTIONS, "limit"],
    takesFiles: false,
    usage: `usertrust board [--limit N] ${VAULT_USAGE}`,
  },
];

/**
 * Why these arguments are not a use of a command, as a message naming the command (`usertrust
 * verify: …`) and ending with its usage (or the help, when no command is named); undefined when
 * they are. `positionals` start with the command; `given` are the options present.
 */
export function usageProblem(
  positionals: readonly string[],
  given: readonly CliOption[],
): string | undefined {
  const [first = "", second] = positionals;
  if (first === "policy" && !COMMANDS.some(({ words }) => words[0] === "policy" && words[1] === second)) {
    const what = second === undefined ? "needs a subcommand" : `has no subcommand "${second}"`;
    return `usertrust policy ${what}: use \`policy validate\` or \`policy test\`\n\n${HELP}`;
  }
  const command = COMMANDS.find(({ words }) => words.every((word, index) => positionals[index] === word));
  if (command === undefined) return `usertrust: unknown command "${first}"\n\n${HELP}`;
  const name = `usertrust ${command.words.join(" ")}`;
  const stray = command.takesFiles ? undefined : positionals[command.words.length];
  if (stray !== undefined) {
    return (
      `${name}: unexpected argument "${stray}": this command takes only options ` +
      `(to name a vault's folder, write --vault-base before it).\n\nUsage: ${command.usage}\n`
    );
  }
  const foreign = given.find((option) => !command.options.includes(option));
  if (foreign !== undefined) {
    const owners = COMMANDS.filter(({ options }) => options.includes(foreign))
      .map(({ words }) => `\`usertrust ${words.join(" ")}\``)
      .join(", ");
    return `${name}: --${foreign} is an option of ${owners}, not of \`${name}\`.\n\nUsage: ${command.usage}\n`;
  }
  return undefined;
}
