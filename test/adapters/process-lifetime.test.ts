import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let server: OpenAIStandIn;
beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());

describe("process lifetime", () => {
  it("lets the process exit after its last call even when destroy() is forgotten", async () => {
    const vault = makeTempVault();
    const worker = resolve(import.meta.dirname, "../support/workers/forgetful-caller.ts");
    const child = spawn(
      process.execPath,
      ["--experimental-strip-types", "--no-warnings", worker, `${server.url}/v1`, vault.base],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    const timeout = new Promise<"still running">((done) =>
      setTimeout(() => done("still running"), 15_000).unref(),
    );
    const outcome = await Promise.race([exited, timeout]);
    if (outcome === "still running") child.kill("SIGKILL");
    vault.cleanup();
    expect(output).toContain("done");
    expect(outcome).toBe(0);
  });
});
