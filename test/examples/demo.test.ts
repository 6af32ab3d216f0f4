import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";

const run = promisify(execFile);
let workDir = "";

afterEach(() => {
  if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
});

describe("examples/demo.ts (`npm run demo`, the README's first command)", () => {
  it("runs offline and shows receipts, a scoped budget's warning and refusal, the budget table and verify", async () => {
    workDir = mkdtempSync(join(tmpdir(), "usertrust-demo-"));
    const demo = resolve(import.meta.dirname, "../../examples/demo.ts");
    const { stdout } = await run(process.execPath, ["--experimental-strip-types", "--no-warnings", demo], {
      cwd: workDir,
      timeout: 60_000,
    });

    expect(stdout).toMatch(/call 1 +cost +65 UT +remaining +935 UT/);
    expect(stdout).toContain("PolicyDeniedError (rule no-gpt-4o-in-production)");
    expect(stdout).toMatch(
      /warning: budget "research\/\*\* day \d{4}-\d\d-\d\d UTC" has spent 130 of 150 UT/,
    );
    expect(stdout).toMatch(/research call 3: BudgetExceededError on budget "research\/\*\* day/);
    expect(stdout).toContain("requests that reached the provider: 0");
    expect(stdout).toMatch(/research\/\*\* day \S+ UTC +150 +130 +0 +20 +86%/);
    expect(stdout).toMatch(/OK: \d+ events verified/);
    expect(stdout).toMatch(/BROKEN at .*events\.jsonl:2 \(hash_mismatch\)/);
    expect(existsSync(join(workDir, "demo-vault", ".usertrust", "ledger.db"))).toBe(true);
  });
});
