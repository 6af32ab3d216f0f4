import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { runCli } from "../../src/cli/run-cli.ts";

const CLI = resolve(import.meta.dirname, "../../src/cli/main.ts");

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `usertrust` command as its own process, the way a user or CI would. */
export function usertrust(...args: string[]): Promise<CliRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", CLI, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** Runs the CLI in this process (faster than `usertrust`), capturing what it prints. */
export async function cliInProcess(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    out: { write: (text: string) => (stdout += text) },
    err: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}
