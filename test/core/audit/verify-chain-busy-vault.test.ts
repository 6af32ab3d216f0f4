import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../../src/adapters/trust.ts";
import { AuditChain } from "../../../src/core/audit/audit-chain.ts";
import { verifyChain } from "../../../src/core/audit/verify-chain.ts";
import { AuditError } from "../../../src/core/errors.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../../support/openai-stand-in.ts";
import { cliInProcess } from "../../support/run-cli.ts";
import { makeTempVault } from "../../support/temp-vault.ts";
import { killWorker, startWorker, type Worker } from "../../support/worker-process.ts";

/**
 * `usertrust verify` exits 1 only on a finding. It reads the head the vault recorded in ledger.db,
 * which other processes open and close all the time; the last connection to close checkpoints the
 * WAL under an exclusive lock. Verify waits and retries through such a lock, and when the head
 * still cannot be read it exits 2 ("try again"), never reporting a good chain as broken. A damaged
 * ledger.db is still a finding.
 */

const WORKER = resolve(import.meta.dirname, "../../support/workers/status-loop.ts");
let server: OpenAIStandIn;
const workers: Worker[] = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  for (const worker of workers.splice(0)) await killWorker(worker);
});

/** A vault whose chain holds `events` good events, written the way the engine writes them. */
function vaultWithEvents(events: number): ReturnType<typeof makeTempVault> {
  const vault = makeTempVault();
  const chain = new AuditChain({ logPath: vault.paths.auditLog, headPath: vault.paths.auditHead });
  for (let event = 1; event <= events; event++) {
    chain.append("spend", "tester", { transferId: `tx_${event}`, costUsertokens: event * 10 });
  }
  chain.close();
  return vault;
}

describe("usertrust verify on a vault another process is using", () => {
  it("never reports a good chain as broken while `usertrust status` polls the same vault", async () => {
    const vault = makeTempVault({ budget: 100_000_000 });
    try {
      const client = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 }), {
        vaultBase: vault.base,
      });
      for (let call = 0; call < 3; call++) {
        await client.chat.completions.create({
          model: "gpt-4o-mini",
          max_tokens: 10,
          messages: [{ role: "user", content: "hi" }],
        });
      }
      await client.destroy();
      expect((await cliInProcess("verify", "--vault-base", vault.base)).code).toBe(0);

      const poller = startWorker(workers, WORKER, [JSON.stringify({ vaultBase: vault.base, runMs: 5_000 })]);
      await poller.waitUntil(
        () => poller.lines.some((line) => line.includes('"ready"')),
        20_000,
        "first status",
      );
      const findings = new Map<string, number>();
      let runs = 0;
      while (poller.child.exitCode === null) {
        const run = await cliInProcess("verify", "--vault-base", vault.base, "--json");
        runs++;
        if (run.code !== 0) {
          // Exit 2 prints its reason on stderr; a finding prints the verification on stdout.
          const problem =
            run.stdout === ""
              ? run.stderr
              : (JSON.parse(run.stdout) as { problem: { message: string } }).problem.message;
          const key = `exit ${run.code}: ${problem.replace(vault.base, "<vault>")}`;
          findings.set(key, (findings.get(key) ?? 0) + 1);
        }
        await new Promise((done) => setImmediate(done));
      }
      expect((await poller.exited).code, poller.stderr()).toBe(0);
      expect(runs).toBeGreaterThan(50);
      expect(Object.fromEntries(findings)).toEqual({});
    } finally {
      vault.cleanup();
    }
  });

  it("exits 2 saying to try again, not 1, when another process keeps ledger.db locked past every retry", async () => {
    const vault = vaultWithEvents(3);
    // Exclusive locking mode keeps the write lock after the commit, so no reader gets in until close.
    const holder = new DatabaseSync(vault.paths.auditHead);
    try {
      holder.exec(
        "PRAGMA locking_mode = EXCLUSIVE; BEGIN IMMEDIATE; UPDATE audit_head SET bytes = bytes WHERE id = 1; COMMIT;",
      );
      expect(() => verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead })).toThrow(
        AuditError,
      );
      const run = await cliInProcess("verify", "--vault-base", vault.base, "--json");
      expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: "" });
      expect(run.stderr).toMatch(
        /^usertrust verify: could not read the vault's record of the chain head .* now/,
      );
      expect(run.stderr).toMatch(/Nothing is known to be wrong with the chain; run the verification again/);

      holder.close();
      expect(await cliInProcess("verify", "--vault-base", vault.base)).toMatchObject({ code: 0 });
    } finally {
      if (holder.isOpen) holder.close();
      vault.cleanup();
    }
  });

  it("still reports a ledger.db that is not a database as a finding (exit 1)", async () => {
    const vault = vaultWithEvents(3);
    try {
      writeFileSync(vault.paths.auditHead, "not a database, whatever else it is ".repeat(200));
      const run = await cliInProcess("verify", "--vault-base", vault.base, "--json");
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toMatchObject({
        ok: false,
        problem: {
          kind: "malformed",
          message: expect.stringMatching(/is damaged \(file is not a database\)/),
        },
      });
    } finally {
      vault.cleanup();
    }
  });
});
