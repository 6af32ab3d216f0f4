import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { AuditChain } from "../../src/core/audit/audit-chain.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { BudgetExceededError, LedgerUnavailableError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import { makeUsage } from "../../src/core/usage.ts";
import { VaultDatabase } from "../../src/core/vault-database.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { makeTempVault } from "../support/temp-vault.ts";
import { killWorker, startWorker, type Worker, withTimeout } from "../support/worker-process.ts";
import type { CrashOptions } from "../support/workers/crash-mid-commit.ts";

const CRASHER = fileURLToPath(new URL("../support/workers/crash-mid-commit.ts", import.meta.url));
const workers: Worker[] = [];
const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newVault() {
  const vault = makeTempVault({ budget: 1_000 });
  cleanups.push(vault.cleanup);
  return vault;
}

/** Runs the crash worker to its SIGKILL and checks it died where it was meant to. */
async function crashMidCommit(options: CrashOptions): Promise<void> {
  const worker = startWorker(workers, CRASHER, [JSON.stringify(options)]);
  const exit = await withTimeout(worker.exited, 20_000, "the crash worker did not exit");
  expect(worker.lines).toEqual([`held ${options.holdId}`]);
  expect(exit, worker.stderr()).toEqual({ code: null, signal: "SIGKILL" });
}

function postedOn(ledgerPath: string): Promise<number> {
  const ledger = new SqliteLedger({ path: ledgerPath });
  return ledger
    .balance()
    .then((balance) => balance.postedUsertokens)
    .finally(() => ledger.close());
}

async function oneGovernedCall(vaultBase: string): Promise<void> {
  const engine = await createEngine({ vaultBase });
  try {
    const hold = await engine.authorize({
      provider: "openai",
      model: "gpt-4o-mini",
      promptParts: ["hi"],
      maxOutputTokens: 10,
    });
    const receipt = await hold.settle(makeUsage({ inputTokens: 10, outputTokens: 10 }));
    expect(receipt.auditDegraded).toBeUndefined();
  } finally {
    await engine.close();
  }
}

function tornFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith("events.jsonl.torn-"));
}

describe("a writer killed between writing its audit lines and COMMIT", () => {
  it("on a vault whose chain has no head row yet, the next writer does not adopt the rolled-back spend", async () => {
    const { base, paths } = newVault();
    await crashMidCommit({ vaultBase: base, holdId: "tx_phantom", mode: "after-write" });
    // The line reached the log but its post rolled back with the transaction.
    expect(readAuditLog(paths.auditLog).map((event) => event.data.transferId)).toEqual(["tx_phantom"]);
    expect(await postedOn(paths.ledger)).toBe(0);

    await oneGovernedCall(base);

    const spends = readAuditLog(paths.auditLog).filter((event) => event.kind === "spend");
    // The ledger never took tx_phantom's 40 UT, so the chain must not show that spend.
    expect(spends.map((event) => event.data.transferId)).not.toContain("tx_phantom");
    const posted = await postedOn(paths.ledger);
    expect(
      spends.reduce(
        (sum, event) => sum + Number(event.data.postedUsertokens ?? event.data.costUsertokens),
        0,
      ),
    ).toBe(posted);
  });

  it("a torn tail set aside inside a transaction that never commits is still recorded by an audit_repaired event", async () => {
    const { base, paths } = newVault();
    await oneGovernedCall(base); // the chain has a head row
    // A first crash leaves an uncommitted line after the head: a torn tail.
    await crashMidCommit({ vaultBase: base, holdId: "tx_first", mode: "after-write" });
    // The next writer sets it aside inside its post's transaction, then dies before writing.
    await crashMidCommit({ vaultBase: base, holdId: "tx_second", mode: "after-append" });
    await oneGovernedCall(base);

    const sideFiles = tornFiles(dirname(paths.auditLog));
    expect(sideFiles.length).toBeGreaterThan(0);
    const repaired = readAuditLog(paths.auditLog)
      .filter((event) => event.kind === "audit_repaired")
      .map((event) => String(event.data.file));
    // README: the bytes are moved to events.jsonl.torn-* "and an audit_repaired event" records it.
    for (const file of sideFiles) expect(repaired).toContain(join(dirname(paths.auditLog), file));
    expect(verifyChain(paths.auditLog, { headPath: paths.auditHead }).ok).toBe(true);
  });
});

describe("a torn-tail repair inside a piece of a batch that is undone", () => {
  it("leaves the repair on record (or the tail in place), never a side file nothing in the chain names", async () => {
    const { paths } = newVault();
    const database = new VaultDatabase(paths.ledger, "normal");
    const chain = new AuditChain({ logPath: paths.auditLog, database });
    cleanups.push(() => {
      chain.close();
      database.close();
    });
    chain.append("spend", "a", { n: 1 });
    // An uncommitted line after the head, as a writer that crashed before COMMIT leaves.
    const torn = '{"actor":"crashed","data":{},"hash":"00","kind":"spend"}\n';
    appendFileSync(paths.auditLog, torn);

    const outcomes = await Promise.allSettled([
      database.batched(() => {
        chain.append("spend", "b", { n: 2 });
        throw new Error("this step failed after its event");
      }),
      database.batched(() => chain.append("spend", "c", { n: 3 })),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "fulfilled"]);

    const sideFiles = tornFiles(dirname(paths.auditLog));
    const repaired = readAuditLog(paths.auditLog)
      .filter((event) => event.kind === "audit_repaired")
      .map((event) => String(event.data.file));
    const tailStillThere = readFileSync(paths.auditLog, "utf8").includes(torn);
    expect(
      tailStillThere || sideFiles.every((file) => repaired.includes(join(dirname(paths.auditLog), file))),
    ).toBe(true);
    expect(sideFiles.length === 0 || repaired.length > 0).toBe(true);
  });
});

describe("the SQLite ledger's reserve on a file that has no wallet row yet", () => {
  it("refuses with a typed usertrust error, not a TypeError from reading the missing row", async () => {
    const dir = mkdtempSync(join(tmpdir(), "usertrust-audit-crash-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // Opened without a budget (as `usertrust status` does): no wallet row is written.
    const ledger = new SqliteLedger({ path: join(dir, "ledger.db") });
    cleanups.push(() => ledger.close());
    const error = await ledger.reserve("h1", 10, 60).catch((caught: unknown) => caught);
    expect(
      error instanceof BudgetExceededError || error instanceof LedgerUnavailableError,
      String(error),
    ).toBe(true);
    expect((await ledger.balance()).pendingUsertokens).toBe(0);
  });
});
