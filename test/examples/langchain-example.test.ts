import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("examples/langchain.ts", () => {
  it("runs offline: the agent's denied tool never runs, it reads the denial, and every AI message has a receipt", async () => {
    const example = resolve(import.meta.dirname, "../../examples/langchain.ts");
    const { stdout } = await run(process.execPath, ["--experimental-strip-types", "--no-warnings", example], {
      timeout: 30_000,
    });
    expect(stdout).toMatch(/tool +Denied by usertrust: policy rule "no-wires-from-agents"/);
    expect(stdout).toMatch(/run total: \d+ UT over 2 model calls; money wired: false/);
    expect(stdout.match(/\[receipt: \d+ UT\]/g)?.length).toBe(2);
  });
});
