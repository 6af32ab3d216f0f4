import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Runs the TypeScript file `script` (relative to the repository root) as its own Node process
 * with --expose-gc, so it can measure its heap after full collections, and returns the JSON of the
 * last line it prints.
 */
export function runHeapWorker(script: string, args: string[], timeoutMs = 120_000): Promise<unknown> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ["--expose-gc", "--experimental-strip-types", "--no-warnings", script, ...args],
      { stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT },
    );
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      out += text;
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      err += text;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`${script} did not finish within ${timeoutMs} ms; stderr:\n${err}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        fail(new Error(`${script} exited with ${code}; stderr:\n${err}`));
        return;
      }
      done(JSON.parse(out.trim().split("\n").at(-1) ?? "null"));
    });
  });
}
