import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { BudgetExceededError } from "../../src/core/errors.ts";
import type { GovernedRequest } from "../../src/core/governed-request.ts";
import type { LedgerBalance } from "../../src/core/ledger/ledger.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { makeUsage } from "../../src/core/usage.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { measureHold } from "../support/measure-hold.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";
import { killWorker, startWorker, type Worker } from "../support/worker-process.ts";
import type { CallerOptions } from "../support/workers/governed-caller.ts";
import type { HangOptions } from "../support/workers/hold-and-hang.ts";

const CALLER = fileURLToPath(new URL("../support/workers/governed-caller.ts", import.meta.url));
const HANGER = fileURLToPath(new URL("../support/workers/hold-and-hang.ts", import.meta.url));
const HOLD_TIMEOUT_SECONDS = 1;
const STARTUP_TIMEOUT_MS = 15_000;
/** How long after the kill a crashed process's holds may keep counting: their timeout plus slack. */
const EXPIRY_WAIT_MS_MAX = 5_000;
const POLL_INTERVAL_MS = 25;

const REQUEST: GovernedRequest = {
  provider: "openai",
  model: "gpt-4o-mini",
  promptParts: ["hi"],
  maxOutputTokens: 1_000,
};

let server: OpenAIStandIn;
const workers: Worker[] = [];
const cleanups: Array<() => void | Promise<void>> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn({}, { record: false });
});
afterAll(() => server.close());
afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newVault(budget: number) {
  const vault = makeTempVault({ budget, holdTimeoutSeconds: HOLD_TIMEOUT_SECONDS });
  cleanups.push(vault.cleanup);
  return vault;
}

/**
 * A vault whose budget is exactly `holds` holds of REQUEST, and a hold-and-hang worker that has taken
 * all of them (it has printed its `held` line).
 */
async function startHanger(holds: number, extra: Partial<HangOptions> = {}) {
  const { holdUsertokens, inputTokensEstimate } = await measureHold(REQUEST);
  const budget = holds * holdUsertokens;
  const vault = newVault(budget);
  const options: HangOptions = {
    vaultBase: vault.base,
    holds,
    promptParts: [...REQUEST.promptParts],
    maxOutputTokens: REQUEST.maxOutputTokens ?? 0,
    ...extra,
  };
  const worker = startWorker(workers, HANGER, [JSON.stringify(options)]);
  await worker.waitUntil(() => worker.lines.length > 0, STARTUP_TIMEOUT_MS, "held line");
  return { worker, vault, budget, holdUsertokens, inputTokensEstimate };
}

/**
 * A ledger connection opened while the crashed process's holds are still live. Opening a ledger
 * labels holds that already expired, so only a connection that was open before they expired shows
 * that a running process stops counting them on its own.
 */
function openReader(ledgerPath: string): SqliteLedger {
  const reader = new SqliteLedger({ path: ledgerPath });
  cleanups.push(() => reader.close());
  return reader;
}

/** Polls until the crashed process's holds stop counting; bounded so a hold that never expires fails the test. */
async function waitForNoPendingHolds(reader: SqliteLedger): Promise<LedgerBalance> {
  const deadline = Date.now() + EXPIRY_WAIT_MS_MAX;
  for (;;) {
    const balance = await reader.balance();
    if (balance.pendingUsertokens === 0) return balance;
    if (Date.now() > deadline) {
      throw new Error(
        `holds still pending ${EXPIRY_WAIT_MS_MAX} ms after the crash: ${JSON.stringify(balance)}`,
      );
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

/** How many holds the ledger reports in each state, as the ledger itself judges them (expiry included). */
async function holdStates(ledgerPath: string, reader: SqliteLedger): Promise<Record<string, number>> {
  const db = new DatabaseSync(ledgerPath, { readOnly: true });
  let ids: string[];
  try {
    ids = (db.prepare("SELECT id FROM holds").all() as Array<{ id: string }>).map((row) => row.id);
  } finally {
    db.close();
  }
  const counts: Record<string, number> = {};
  for (const id of ids) {
    const state = (await reader.holdState(id)) ?? "missing";
    counts[state] = (counts[state] ?? 0) + 1;
  }
  return counts;
}

describe("a process that crashes holding budget", () => {
  it("locks the budget only until its holds expire, then the whole budget can be spent and the chain verifies", async () => {
    const holds = 4;
    const { worker: hanger, vault, budget, holdUsertokens, inputTokensEstimate } = await startHanger(holds);
    const [word, reservedAt, ...transferIds] = (hanger.lines[0] ?? "").split(" ");
    expect(word).toBe("held");
    expect(transferIds).toHaveLength(holds);
    const sinceReserveMs = (): string => `${Date.now() - Number(reservedAt)} ms after the reserve`;

    // Another process sees the holds on the shared ledger and cannot take the budget they block.
    const reader = openReader(vault.paths.ledger);
    expect(await reader.balance(), sinceReserveMs()).toEqual({
      budgetUsertokens: budget,
      postedUsertokens: 0,
      pendingUsertokens: budget,
      remainingUsertokens: 0,
    });
    const engine = await createEngine({ vaultBase: vault.base });
    cleanups.push(() => engine.close());
    await expect(engine.authorize(REQUEST), sinceReserveMs()).rejects.toBeInstanceOf(BudgetExceededError);

    hanger.child.kill("SIGKILL");
    expect(await hanger.exited).toEqual({ code: null, signal: "SIGKILL" });
    const recovered = await waitForNoPendingHolds(reader);
    expect(recovered).toEqual({
      budgetUsertokens: budget,
      postedUsertokens: 0,
      pendingUsertokens: 0,
      remainingUsertokens: budget,
    });
    for (const id of transferIds) expect(await reader.holdState(id)).toBe("expired");

    // The whole budget is usable again, through the engine that was open during the crash: all of it
    // held at once, one more hold refused, then all of it spent.
    const fresh = await Promise.all(Array.from({ length: holds }, () => engine.authorize(REQUEST)));
    await expect(engine.authorize(REQUEST)).rejects.toBeInstanceOf(BudgetExceededError);
    const fullUsage = makeUsage({
      inputTokens: inputTokensEstimate,
      outputTokens: REQUEST.maxOutputTokens ?? 0,
    });
    const receipts = await Promise.all(fresh.map((hold) => hold.settle(fullUsage)));
    for (const receipt of receipts) expect(receipt.cost).toBe(holdUsertokens);
    expect(await engine.balance()).toEqual({
      budgetUsertokens: budget,
      postedUsertokens: budget,
      pendingUsertokens: 0,
      remainingUsertokens: 0,
    });
    await engine.close();
    expect(await holdStates(vault.paths.ledger, reader)).toEqual({ expired: holds, posted: holds });

    const chain = verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead });
    expect(chain.problem).toBeNull();
    expect(chain.ok).toBe(true);
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual([
      "budget_exceeded",
      "budget_exceeded",
      ...Array.from({ length: holds }, () => "spend"),
    ]);
    expect(events.map((event) => event.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("leaves a valid chain when killed mid-stream in a loop of calls, and the next writer continues it", async () => {
    const lanes = 4;
    const settledBeforeKill = 20;
    const vault = newVault(10_000_000);
    server.setBehaviour({ reply: "one two three four five six", delayMs: 5, chunkDelayMs: 5 });

    const options: CallerOptions = {
      baseURL: `${server.url}/v1`,
      vaultBase: vault.base,
      actor: "crashing-worker",
      lanes,
      maxCalls: 10_000,
      maxTokens: 1_000,
      stream: true,
      progress: true,
      waitForGo: false,
    };
    const caller = startWorker(workers, CALLER, [JSON.stringify(options)]);
    const settled = (): number => caller.lines.filter((line) => line.startsWith('{"type":"settled"')).length;
    await caller.waitUntil(
      () => settled() >= settledBeforeKill,
      STARTUP_TIMEOUT_MS,
      `${settledBeforeKill} settled calls`,
    );
    const reader = openReader(vault.paths.ledger);
    caller.child.kill("SIGKILL");
    expect(await caller.exited).toEqual({ code: null, signal: "SIGKILL" });

    // Its lanes were mid-call: their holds are still on the ledger, and nothing it wrote broke the chain.
    const atCrash = await reader.balance();
    expect(atCrash.pendingUsertokens).toBeGreaterThan(0);
    const afterCrash = verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead });
    expect(afterCrash.problem).toBeNull();
    expect(afterCrash.ok).toBe(true);
    const crashedEvents = readAuditLog(vault.paths.auditLog);
    expect(crashedEvents.length).toBeGreaterThanOrEqual(settledBeforeKill);
    expect(new Set(crashedEvents.map((event) => event.kind))).toEqual(new Set(["spend"]));
    // A kill can land between a post and its audit line, never the other way round.
    const auditedUsertokens = crashedEvents.reduce(
      (sum, event) => sum + Number(event.data.postedUsertokens),
      0,
    );
    expect(atCrash.postedUsertokens).toBeGreaterThanOrEqual(auditedUsertokens);
    expect((await holdStates(vault.paths.ledger, reader)).posted ?? 0).toBeLessThanOrEqual(
      crashedEvents.length + lanes,
    );

    const recovered = await waitForNoPendingHolds(reader);
    expect(recovered.postedUsertokens).toBe(atCrash.postedUsertokens);

    server.setBehaviour({});
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
    const client = await trust(openai, { vaultBase: vault.base });
    cleanups.push(() => client.destroy());
    const { receipt } = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 1_000,
    });
    await client.destroy();

    const events = readAuditLog(vault.paths.auditLog);
    expect(events).toHaveLength(crashedEvents.length + 1);
    expect(events.at(-1)).toMatchObject({
      kind: "spend",
      sequence: afterCrash.lastSequence + 1,
      previousHash: afterCrash.lastHash,
      hash: receipt.auditHash,
      data: { transferId: receipt.transferId },
    });
    const chain = verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead });
    expect(chain.problem).toBeNull();
    expect(chain).toMatchObject({
      ok: true,
      events: afterCrash.events + 1,
      lastSequence: afterCrash.lastSequence + 1,
    });
    const states = await holdStates(vault.paths.ledger, reader);
    expect(states.pending).toBeUndefined();
    expect(states.expired).toBeGreaterThan(0);
  });

  it("caps what a stalled process posts after its holds expired at what the budget still has free", async () => {
    const holds = 2;
    const {
      worker: staller,
      vault,
      budget,
      holdUsertokens,
      inputTokensEstimate,
    } = await startHanger(holds, { settleOnInput: true });
    const reader = openReader(vault.paths.ledger);
    await waitForNoPendingHolds(reader);

    // While the stalled process sleeps past its holds' timeout, another one spends half the budget they blocked.
    const engine = await createEngine({ vaultBase: vault.base });
    cleanups.push(() => engine.close());
    const fullUsage = makeUsage({
      inputTokens: inputTokensEstimate,
      outputTokens: REQUEST.maxOutputTokens ?? 0,
    });
    const spent = await (await engine.authorize(REQUEST)).settle(fullUsage);
    expect(spent.cost).toBe(holdUsertokens);
    await engine.close();

    staller.child.stdin?.write("settle\n");
    const isSettled = (line: string): boolean => line.startsWith("settled ");
    await staller.waitUntil(() => staller.lines.some(isSettled), STARTUP_TIMEOUT_MS, "settled line");
    expect(await staller.exited).toEqual({ code: 0, signal: null });
    const late = JSON.parse(
      staller.lines.find(isSettled)?.slice("settled ".length) ?? "[]",
    ) as TrustReceipt[];
    expect(late).toHaveLength(holds);
    for (const receipt of late) {
      expect(receipt).toMatchObject({ settled: true, cost: holdUsertokens });
      expect(receipt.warnings).toEqual(expect.arrayContaining([expect.stringContaining("expired")]));
    }

    // The calls really happened, so the first late settle takes what is free and the second records a shortfall.
    expect(await reader.balance()).toEqual({
      budgetUsertokens: budget,
      postedUsertokens: budget,
      pendingUsertokens: 0,
      remainingUsertokens: 0,
    });
    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend", "spend", "spend"]);
    expect(events.slice(1).map((event) => event.data.postedUsertokens)).toEqual([holdUsertokens, 0]);
    expect(events.slice(1).map((event) => event.data.shortfallUsertokens)).toEqual([0, holdUsertokens]);
    const chain = verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead });
    expect(chain.problem).toBeNull();
    expect(chain).toMatchObject({ ok: true, events: 3, lastSequence: 3 });
  });
});
