import { spawnSync } from "node:child_process";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { cliInProcess } from "../support/run-cli.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * Exit 2 means bad usage: an argument a command does not take (a stray positional, another
 * command's option) is refused with what was wrong and the command's usage, never ignored. Ignoring
 * `usertrust verify path/to/project` (a slip for `--vault-base path/to/project`) would verify the
 * working directory's vault and print OK, vouching for a chain nobody asked about.
 */

const CLI = resolve(import.meta.dirname, "../../src/cli/main.ts");
let server: OpenAIStandIn;

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());

function usertrustIn(cwd: string, ...args: string[]) {
  const run = spawnSync(process.execPath, ["--experimental-strip-types", "--no-warnings", CLI, ...args], {
    cwd,
    encoding: "utf8",
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("usertrust with arguments its command does not take, as a real process", () => {
  it("refuses `verify DIR` (a folder given without --vault-base) instead of verifying the working directory", async () => {
    const here = makeTempVault({ budget: 1_000_000 });
    const there = makeTempVault({ budget: 1_000_000 });
    try {
      const client = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 }), {
        vaultBase: there.base,
      });
      await client.chat.completions.create({
        model: "gpt-4o-mini",
        max_tokens: 10,
        messages: [{ role: "user", content: "hi" }],
      });
      await client.destroy();
      // The other vault's log is tampered with: its cost rewritten.
      const log = readFileSync(there.paths.auditLog, "utf8");
      writeFileSync(there.paths.auditLog, log.replace(/"costUsertokens":\d+/, '"costUsertokens":0'));
      expect(usertrustIn(here.base, "verify", "--vault-base", there.base).code).toBe(1);

      const slip = usertrustIn(here.base, "verify", there.base);
      expect(slip.stdout).not.toMatch(/^OK/);
      expect(slip.code).toBe(2);
    } finally {
      here.cleanup();
      there.cleanup();
    }
  });

  it("refuses an option of another command (--budget is init only, --limit is board's) with exit 2", () => {
    const vault = makeTempVault({ budget: 1_000 });
    try {
      appendFileSync(vault.paths.auditLog, "");
      const budget = usertrustIn(vault.base, "budget", "--budget", "5000", "--json");
      const verify = usertrustIn(vault.base, "verify", "--limit", "5");
      expect({ budget: budget.code, verify: verify.code }).toEqual({ budget: 2, verify: 2 });
    } finally {
      vault.cleanup();
    }
  });
});

/** Each command with the options it takes, as the CLI section of the README lists them. */
const COMMANDS: Array<{ words: string[]; own: string[][] }> = [
  { words: ["init"], own: [["--budget", "5"]] },
  { words: ["verify"], own: [] },
  { words: ["status"], own: [] },
  { words: ["budget"], own: [] },
  { words: ["board"], own: [["--limit", "5"]] },
  { words: ["policy", "validate"], own: [] },
  {
    words: ["policy", "test"],
    own: [
      ["--model", "m"],
      ["--cost", "1"],
      ["--provider", "p"],
      ["--scope", "s"],
      ["--field", "a=1"],
      ["--at", "2026-01-01T00:00:00Z"],
    ],
  },
];
const ALL_OWN = COMMANDS.flatMap(({ words, own }) =>
  own.map((option) => ({ owner: words.join(" "), option })),
);

describe("usertrust refuses, naming the argument and the command's usage", () => {
  const vault = makeTempVault({ budget: 1_000 });
  afterAll(() => vault.cleanup());

  it.each(COMMANDS.filter(({ words }) => words[0] !== "policy"))(
    "a stray positional after `$words`",
    async ({ words }) => {
      const run = await cliInProcess(...words, "elsewhere", "--vault-base", vault.base);
      expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: "" });
      expect(run.stderr).toMatch(
        new RegExp(`^usertrust ${words.join(" ")}: unexpected argument "elsewhere": .*--vault-base`),
      );
      expect(run.stderr).toContain(`\nUsage: usertrust ${words.join(" ")} [`);
    },
  );

  for (const { words, own } of COMMANDS) {
    const foreign = ALL_OWN.filter(({ owner, option }) => owner !== words.join(" ") && !own.includes(option));
    it(`every option of another command after \`${words.join(" ")}\``, async () => {
      for (const { owner, option } of foreign) {
        const run = await cliInProcess(...words, ...option, "--vault-base", vault.base);
        expect({ option: option[0], code: run.code, stdout: run.stdout }).toEqual({
          option: option[0],
          code: 2,
          stdout: "",
        });
        expect(run.stderr).toContain(
          `usertrust ${words.join(" ")}: ${option[0]} is an option of \`usertrust ${owner}\`, not of \`usertrust ${words.join(" ")}\``,
        );
        expect(run.stderr).toContain(`Usage: usertrust ${words.join(" ")} `);
      }
    });
  }

  it("an unknown or missing policy subcommand, with the help", async () => {
    const unknown = await cliInProcess("policy", "check", "--vault-base", vault.base);
    const missing = await cliInProcess("policy", "--vault-base", vault.base);
    expect([unknown.code, missing.code]).toEqual([2, 2]);
    expect(unknown.stderr).toMatch(
      /^usertrust policy has no subcommand "check": use `policy validate` or `policy test`/,
    );
    expect(missing.stderr).toMatch(/^usertrust policy needs a subcommand/);
  });

  it("but takes policy files after `policy validate` and `policy test`", async () => {
    const file = vault.paths.defaultPolicy;
    const base = ["--vault-base", vault.base, "--json"];
    expect((await cliInProcess("policy", "validate", file, ...base)).code).toBe(0);
    expect((await cliInProcess("policy", "test", file, "--model", "m", "--cost", "1", ...base)).code).toBe(0);
  });
});
