import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("examples/ai-sdk.ts", () => {
  it("runs offline: the denied tool never runs, every step has a receipt, the UI stream carries one", async () => {
    const example = resolve(import.meta.dirname, "../../examples/ai-sdk.ts");
    const { stdout } = await run(process.execPath, ["--experimental-strip-types", "--no-warnings", example], {
      timeout: 30_000,
    });
    expect(stdout).toContain("tool-approval-response");
    expect(stdout).toMatch(/run total: \d+ UT over 2 model calls; the tool ran: false/);
    expect(stdout).toMatch(/UI finish chunk metadata: cost \d+ UT/);
  });
});
