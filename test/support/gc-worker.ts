import { spawn } from "node:child_process";
import { resolve } from "node:path";

const REPO_ROOT = resolve(import.meta.dirname, "../..");

/**
 * Runs `test/support/workers/<script>` as its own Node process under --expose-gc (so it can measure
 * its heap after collecting) and returns the JSON it prints on its last stdout line. A worker that
 * exits badly or outlives `timeoutMs` fails with its stderr.
 */
export function runGcWorker(script: string, args: string[], timeoutMs = 120_000): Promise<unknown> {
  const path = resolve(import.meta.dirname, "workers", script);
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ["--expose-gc", "--experimental-strip-types", "--no-warnings", path, ...args],
      { stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      err += chunk;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`worker ${script} timed out after ${timeoutMs} ms; stderr:\n${err}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0) fail(new Error(`worker ${script} exited ${code}; stderr:\n${err}`));
      else done(JSON.parse(last));
    });
  });
}
