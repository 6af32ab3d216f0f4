import { existsSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AuditEvent } from "../../src/core/audit/audit-event.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import type { TrustConfig } from "../../src/core/config.ts";
import { createEngine, type EngineOptions } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import {
  BudgetExceededError,
  ClientDestroyedError,
  LedgerUnavailableError,
  UnknownModelError,
} from "../../src/core/errors.ts";
import type { GovernedRequest } from "../../src/core/governed-request.ts";
import { GroupCommit } from "../../src/core/group-commit.ts";
import { MemoryLedger } from "../../src/core/ledger/memory-ledger.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import { makeUsage } from "../../src/core/usage.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { makeTempVault, writeConfig } from "../support/temp-vault.ts";

const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function vault(config: Partial<TrustConfig> = { budget: 100_000 }) {
  const made = makeTempVault(config);
  cleanups.push(made.cleanup);
  return made;
}

/** An engine closed after the test even when an assertion fails first (close is idempotent). */
async function engineFor(base: string, options: Omit<EngineOptions, "vaultBase"> = {}): Promise<Engine> {
  const engine = await createEngine({ vaultBase: base, ...options });
  cleanups.unshift(() => engine.close());
  return engine;
}

function request(overrides: Partial<GovernedRequest> = {}): GovernedRequest {
  return {
    provider: "openai",
    model: "gpt-4o-mini",
    promptParts: ["Say hello"],
    // Large enough that a hold covers a million input and a million output tokens.
    maxOutputTokens: 2_000_000,
    ...overrides,
  };
}

/** gpt-4o-mini: $0.15 + $0.60 per million input/output tokens = $0.75 = 7,500 UT. */
const MILLION_EACH = makeUsage({ inputTokens: 1_000_000, outputTokens: 1_000_000 });
const MILLION_EACH_UT = 7_500;

function auditEvents(path: string): AuditEvent[] {
  return existsSync(path) ? readAuditLog(path) : [];
}

describe("createEngine over a real SQLite vault", () => {
  it("persists spend across engine instances", async () => {
    const { base } = vault({ budget: 100_000 });
    const first = await engineFor(base);
    const firstReceipt = await (await first.authorize(request())).settle(MILLION_EACH);
    expect(firstReceipt.cost).toBe(MILLION_EACH_UT);
    expect(firstReceipt.budgetRemaining).toBe(100_000 - MILLION_EACH_UT);
    await first.close();

    const second = await engineFor(base);
    expect(await second.balance()).toEqual({
      budgetUsertokens: 100_000,
      postedUsertokens: MILLION_EACH_UT,
      pendingUsertokens: 0,
      remainingUsertokens: 100_000 - MILLION_EACH_UT,
    });
    const secondReceipt = await (await second.authorize(request())).settle(MILLION_EACH);
    expect(secondReceipt.budgetRemaining).toBe(100_000 - 2 * MILLION_EACH_UT);
    expect(second.ledger.kind).toBe("sqlite");
  });

  it("applies a budget changed in the config file on the next createEngine", async () => {
    const { base, paths } = vault({ budget: 100_000 });
    const first = await engineFor(base);
    await (await first.authorize(request())).settle(MILLION_EACH);
    await first.close();

    writeConfig(paths, { budget: 20_000 });
    const second = await engineFor(base);
    expect(second.config.budget).toBe(20_000);
    expect(await second.balance()).toMatchObject({
      budgetUsertokens: 20_000,
      postedUsertokens: MILLION_EACH_UT,
      remainingUsertokens: 20_000 - MILLION_EACH_UT,
    });
  });

  it("lets the budget option override the file", async () => {
    const { base } = vault({ budget: 100_000 });
    const engine = await engineFor(base, { budget: 1_234 });
    expect(engine.config.budget).toBe(1_234);
    expect((await engine.balance()).budgetUsertokens).toBe(1_234);
  });

  it("creates the vault with defaults when it does not exist yet", async () => {
    const { base, paths, cleanup } = makeTempVault();
    cleanup();
    cleanups.push(cleanup);
    const engine = await engineFor(base);
    expect(existsSync(paths.config)).toBe(true);
    expect(engine.config.budget).toBe(50_000);
  });
});

describe("dry run", () => {
  async function spendTwiceAcrossInstances(base: string, options: Omit<EngineOptions, "vaultBase">) {
    const first = await engineFor(base, options);
    expect(first.ledger.kind).toBe("memory");
    const receipt = await (await first.authorize(request())).settle(MILLION_EACH);
    expect(receipt.budgetRemaining).toBe(100_000 - MILLION_EACH_UT);
    await first.close();
    const second = await engineFor(base, options);
    expect(second.ledger.kind).toBe("memory");
    expect((await second.balance()).postedUsertokens).toBe(0);
    await second.close();
  }

  /** What the durable ledger in ledger.db recorded (dry-run opens that file only for the audit head). */
  async function spentOnDisk(path: string): Promise<number> {
    const ledger = new SqliteLedger({ path });
    const { postedUsertokens } = await ledger.balance();
    await ledger.close();
    return postedUsertokens;
  }

  it("uses the memory ledger with dryRun: nothing persists, the audit chain is still written", async () => {
    const { base, paths } = vault();
    await spendTwiceAcrossInstances(base, { dryRun: true });
    expect(await spentOnDisk(paths.ledger)).toBe(0);
    expect(auditEvents(paths.auditLog).map((event) => event.kind)).toEqual(["spend"]);
    expect(verifyChain(paths.auditLog, { headPath: paths.auditHead })).toMatchObject({ ok: true, events: 1 });
  });

  it("uses the memory ledger when USERTRUST_DRY_RUN=true", async () => {
    vi.stubEnv("USERTRUST_DRY_RUN", "true");
    const { base, paths } = vault();
    await spendTwiceAcrossInstances(base, {});
    expect(await spentOnDisk(paths.ledger)).toBe(0);
    expect(auditEvents(paths.auditLog)).toHaveLength(1);
  });

  it("lets dryRun: false win over the environment", async () => {
    vi.stubEnv("USERTRUST_DRY_RUN", "true");
    const { base } = vault();
    const engine = await engineFor(base, { dryRun: false });
    expect(engine.ledger.kind).toBe("sqlite");
  });
});

describe("authorize refusals", () => {
  it("denies an unknown model with UnknownModelError and an unknown_model audit event", async () => {
    const { base, paths } = vault();
    const engine = await engineFor(base);
    const denied = engine.authorize(request({ model: "gpt-does-not-exist-9", actor: "agent-7" }));
    await expect(denied).rejects.toThrow(UnknownModelError);
    await expect(denied).rejects.toMatchObject({ code: "UNKNOWN_MODEL", model: "gpt-does-not-exist-9" });
    expect((await engine.balance()).pendingUsertokens).toBe(0);
    const events = auditEvents(paths.auditLog);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: "unknown_model",
      actor: "agent-7",
      data: { model: "gpt-does-not-exist-9", provider: "openai" },
    });
  });

  it('prices an unknown model at the fallback rate with a warning when unknownModel is "warn"', async () => {
    const { base } = vault({ budget: 10_000_000, unknownModel: "warn" });
    const engine = await engineFor(base);
    const receipt = await (await engine.authorize(request({ model: "gpt-does-not-exist-9" }))).settle(
      MILLION_EACH,
    );
    // $15 + $75 = $90 = 900,000 UT.
    expect(receipt.cost).toBe(900_000);
    expect(receipt.warnings.join("\n")).toContain("gpt-does-not-exist-9");
  });
});

describe("authorize refusals without budget rules in the policy", () => {
  it("still refuses a hold that does not fit with BudgetExceededError from the ledger, and audits it", async () => {
    const { base, paths } = vault({ budget: 5_000 });
    // Only a model rule: nothing reads the budget before the reserve, so the ledger alone refuses.
    writeFileSync(
      paths.defaultPolicy,
      "- name: no-legacy\n  effect: deny\n  enforcement: hard\n  conditions:\n    - { field: model, operator: eq, value: gpt-3.5-turbo }\n",
    );
    const engine = await engineFor(base);
    const refused = engine.authorize(request());
    await expect(refused).rejects.toThrow(BudgetExceededError);
    await expect(refused).rejects.toMatchObject({ remainingUsertokens: 5_000 });
    expect(auditEvents(paths.auditLog).map((event) => event.kind)).toEqual(["budget_exceeded"]);
    expect((await engine.balance()).pendingUsertokens).toBe(0);
  });
});

describe("settle and void", () => {
  it("posts only the hold when usage costs more, and warns about the shortfall", async () => {
    const { base, paths } = vault({ budget: 100_000 });
    const engine = await engineFor(base);
    const hold = await engine.authorize(request({ maxOutputTokens: 10 }));
    const holdUt = hold.terms.holdUsertokens;
    expect(holdUt).toBeLessThan(MILLION_EACH_UT);

    const receipt = await hold.settle(MILLION_EACH);
    const shortfall = MILLION_EACH_UT - holdUt;
    expect(receipt.cost).toBe(MILLION_EACH_UT);
    expect(receipt.budgetRemaining).toBe(100_000 - holdUt);
    expect(receipt.warnings.some((warning) => warning.includes(`${shortfall} UT went unrecorded`))).toBe(
      true,
    );
    expect(await engine.balance()).toMatchObject({ postedUsertokens: holdUt, pendingUsertokens: 0 });
    expect(auditEvents(paths.auditLog)[0]?.data).toMatchObject({
      costUsertokens: MILLION_EACH_UT,
      postedUsertokens: holdUt,
      shortfallUsertokens: shortfall,
      holdUsertokens: holdUt,
    });
  });

  it("returns the same receipt for a second settle, and for void after settle: one audit event, one post", async () => {
    const { base, paths } = vault();
    const engine = await engineFor(base);
    const hold = await engine.authorize(request());
    const first = await hold.settle(MILLION_EACH);
    const again = await hold.settle(makeUsage({ inputTokens: 5, outputTokens: 5 }));
    const voided = await hold.void("too late");
    expect(again).toBe(first);
    expect(voided).toBe(first);
    expect(first.settled).toBe(true);
    expect(await hold.receipt).toBe(first);
    expect(await engine.ledger.holdState(hold.transferId)).toBe("posted");
    expect((await engine.balance()).postedUsertokens).toBe(MILLION_EACH_UT);
    expect(auditEvents(paths.auditLog).map((event) => event.kind)).toEqual(["spend"]);
  });

  it("settles once when settle and void race", async () => {
    const { base, paths } = vault();
    const engine = await engineFor(base);
    const hold = await engine.authorize(request());
    const [settled, voided] = await Promise.all([hold.settle(MILLION_EACH), hold.void("stream broke")]);
    expect(voided).toBe(settled);
    expect(auditEvents(paths.auditLog)).toHaveLength(1);
  });

  it("voids with cost 0 and releases the hold", async () => {
    const { base, paths } = vault({ budget: 100_000 });
    const engine = await engineFor(base);
    const hold = await engine.authorize(request());
    expect((await engine.balance()).pendingUsertokens).toBe(hold.terms.holdUsertokens);
    const receipt = await hold.void("provider returned 500");
    expect(receipt).toMatchObject({ settled: false, cost: 0, budgetRemaining: 100_000 });
    expect(auditEvents(paths.auditLog)[0]).toMatchObject({
      kind: "call_failed",
      data: { reason: "provider returned 500", transferId: hold.transferId },
    });
  });

  it('settles on an estimate with usageSource "estimated" via settleEstimated', async () => {
    const { base, paths } = vault();
    const engine = await engineFor(base);
    const hold = await engine.authorize(request({ promptParts: ["a".repeat(300)] }));
    const receipt = await hold.settleEstimated(90);
    expect(receipt.usageSource).toBe("estimated");
    expect(receipt.settled).toBe(true);
    expect(receipt.usage).toEqual({
      inputTokens: hold.terms.inputTokensEstimate,
      outputTokens: 30,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    expect(hold.terms.inputTokensEstimate).toBeGreaterThanOrEqual(100);
    expect(receipt.cost).toBeGreaterThan(0);
    expect(auditEvents(paths.auditLog)[0]?.data).toMatchObject({ usageSource: "estimated" });
  });

  it("puts every spec field on the receipt, its auditHash equal to the event's hash", async () => {
    const { base, paths } = vault({ budget: 100_000 });
    const engine = await engineFor(base);
    const hold = await engine.authorize(request());
    const receipt = await hold.settle(MILLION_EACH);
    expect(Object.keys(receipt).sort()).toEqual(
      [
        "auditHash",
        "budgetRemaining",
        "chainPath",
        "cost",
        "model",
        "provider",
        "receiptUrl",
        "settled",
        "timestamp",
        "transferId",
        "usage",
        "usageSource",
        "warnings",
      ].sort(),
    );
    const [event] = auditEvents(paths.auditLog);
    expect(receipt).toEqual({
      transferId: hold.transferId,
      cost: MILLION_EACH_UT,
      budgetRemaining: 100_000 - MILLION_EACH_UT,
      auditHash: event?.hash,
      chainPath: paths.auditLog,
      receiptUrl: null,
      settled: true,
      model: "gpt-4o-mini",
      provider: "openai",
      timestamp: event?.timestamp,
      usage: MILLION_EACH,
      usageSource: "provider",
      // The default policy's high-cost rule warns above 1,000 UT.
      warnings: [expect.stringMatching(/^policy high-cost: /)],
    });
    expect(receipt.transferId).toMatch(/^tx_/);
    expect(new Date(receipt.timestamp).toISOString()).toBe(receipt.timestamp);
    expect(event?.data).toMatchObject({ transferId: receipt.transferId, costUsertokens: receipt.cost });
  });
});

describe("close", () => {
  it("voids in-flight holds, audits them as hold_voided and refuses later calls", async () => {
    const { base, paths } = vault({ budget: 100_000 });
    const engine = await engineFor(base);
    const inFlight = await engine.authorize(request());
    const done = await engine.authorize(request());
    await done.settle(MILLION_EACH);

    await engine.close();
    expect(engine.closed).toBe(true);
    const receipt = await inFlight.receipt;
    expect(receipt).toMatchObject({ settled: false, cost: 0, transferId: inFlight.transferId });
    // The hold already ended: a late settle gets the voided receipt, nothing is posted.
    expect(await inFlight.settle(MILLION_EACH)).toBe(receipt);
    const events = auditEvents(paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["spend", "hold_voided"]);
    expect(events[1]?.data).toMatchObject({ transferId: inFlight.transferId });
    expect(receipt.auditHash).toBe(events[1]?.hash);

    await expect(engine.authorize(request())).rejects.toThrow(ClientDestroyedError);
    await expect(engine.balance()).rejects.toThrow(ClientDestroyedError);
    await engine.close();

    const reopened = await engineFor(base);
    expect(await reopened.ledger.holdState(inFlight.transferId)).toBe("voided");
    expect(await reopened.balance()).toMatchObject({
      postedUsertokens: MILLION_EACH_UT,
      pendingUsertokens: 0,
    });
  });
});

describe("close racing an authorize", () => {
  it("leaves no pending hold behind when close() is called while authorize() is still resolving", async () => {
    const { base } = vault({ budget: 100_000 });
    const engine = await engineFor(base);
    const authorizing = engine.authorize(request());
    const closing = engine.close();
    const [authorized] = await Promise.allSettled([authorizing, closing]);
    if (authorized.status === "fulfilled") {
      // A hold handed out by a closing engine must already be ended (voided), not left pending.
      expect(authorized.value.ended).toBe(true);
      expect((await authorized.value.receipt).settled).toBe(false);
    } else {
      expect(authorized.reason).toBeInstanceOf(ClientDestroyedError);
    }
    const reopened = await engineFor(base);
    expect((await reopened.balance()).pendingUsertokens).toBe(0);
  });
});

describe('durability: "strict"', () => {
  it("settles calls and keeps spend and the audit chain across instances", async () => {
    const { base, paths } = vault({ budget: 100_000, durability: "strict" });
    const first = await engineFor(base);
    expect(first.config.durability).toBe("strict");
    const holds = await Promise.all([1, 2, 3].map(() => first.authorize(request())));
    const receipts = await Promise.all(holds.map((hold) => hold.settle(MILLION_EACH)));
    expect(receipts.every((receipt) => receipt.settled && receipt.auditHash !== "")).toBe(true);
    await (await first.authorize(request())).void("cancelled");
    await first.close();

    const second = await engineFor(base);
    expect(await second.balance()).toMatchObject({
      postedUsertokens: 3 * MILLION_EACH_UT,
      pendingUsertokens: 0,
    });
    const receipt = await (await second.authorize(request())).settle(MILLION_EACH);
    expect(receipt.budgetRemaining).toBe(100_000 - 4 * MILLION_EACH_UT);
    await second.close();
    expect(verifyChain(paths.auditLog, { headPath: paths.auditHead })).toMatchObject({ ok: true, events: 5 });
  });
});

describe("a post that fails after the provider has answered", () => {
  /** A ledger whose store is unavailable for its next `failures` posts, as a locked or full disk is. */
  class FlakyPostLedger extends MemoryLedger {
    failures: number;
    constructor(failures: number) {
      super({ budgetUsertokens: 100_000 });
      this.failures = failures;
    }
    override async post(...args: Parameters<MemoryLedger["post"]>) {
      if (this.failures > 0) {
        this.failures--;
        throw new LedgerUnavailableError("the ledger is locked by another process");
      }
      return super.post(...args);
    }
  }

  it("returns a receipt that keeps the cost, audits the failure, and posts the cost before the next call", async () => {
    const { base, paths } = vault();
    const ledger = new FlakyPostLedger(1);
    const engine = await engineFor(base, { ledger });
    const receipt = await (await engine.authorize(request())).settle(MILLION_EACH);
    expect(receipt).toMatchObject({ settled: false, cost: MILLION_EACH_UT });
    expect(receipt.warnings.join(" ")).toContain("could not be posted");
    expect(auditEvents(paths.auditLog).map((event) => event.kind)).toEqual(["settle_failed"]);

    const next = await engine.authorize(request());
    expect((await engine.balance()).postedUsertokens).toBe(MILLION_EACH_UT);
    expect(auditEvents(paths.auditLog).map((event) => event.kind)).toEqual(["settle_failed", "spend"]);
    await next.void("not needed");
  });

  it('with durability "strict", the settle_failed event is on disk before the receipt returns', async () => {
    const { base } = vault({ budget: 100_000, durability: "strict" });
    const engine = await engineFor(base, { ledger: new FlakyPostLedger(1) });
    const hold = await engine.authorize(request());
    const fsyncs = vi.spyOn(GroupCommit.prototype, "sync");
    const receipt = await hold.settle(MILLION_EACH);
    expect(receipt.settled).toBe(false);
    // The audit file's group commit ran (and finished: settle awaited it) for that event.
    expect(fsyncs).toHaveBeenCalled();
    await engine.close();
  });

  it('with durability "strict", a circuit_state event the call causes is on disk before it returns', async () => {
    const { base, paths } = vault({
      budget: 100_000,
      durability: "strict",
      circuitBreaker: { failureThreshold: 1, resetTimeout: 60_000 },
    });
    const engine = await engineFor(base);
    const hold = await engine.authorize(request());
    // The audit log's size when each group commit starts: what that fsync covers.
    let syncedBytes = 0;
    const sync = GroupCommit.prototype.sync;
    vi.spyOn(GroupCommit.prototype, "sync").mockImplementation(function (this: GroupCommit) {
      syncedBytes = statSync(paths.auditLog).size;
      return sync.call(this);
    });
    await hold.void("the provider failed", "call_failed", "provider_fault");
    expect(auditEvents(paths.auditLog).map((event) => event.kind)).toEqual(["call_failed", "circuit_state"]);
    expect(syncedBytes, "the circuit_state line was written after the last fsync").toBe(
      statSync(paths.auditLog).size,
    );
    await engine.close();
  });

  it("posts an earlier cost once when calls that start together both retry it", async () => {
    const { base, paths } = vault();
    const ledger = new FlakyPostLedger(1);
    const engine = await engineFor(base, { ledger });
    const failed = await (await engine.authorize(request())).settle(MILLION_EACH);
    expect(failed.settled).toBe(false);
    const [first, second] = await Promise.all([engine.authorize(request()), engine.authorize(request())]);
    expect((await engine.balance()).postedUsertokens).toBe(MILLION_EACH_UT);
    const spends = auditEvents(paths.auditLog).filter((event) => event.kind === "spend");
    expect(spends.map((event) => event.data.transferId)).toEqual([failed.transferId]);
    await first?.void("not needed");
    await second?.void("not needed");
  });

  it("refuses new calls while the earlier cost still cannot be posted", async () => {
    const { base } = vault();
    const engine = await engineFor(base, { ledger: new FlakyPostLedger(2) });
    await (await engine.authorize(request())).settle(MILLION_EACH);
    await expect(engine.authorize(request())).rejects.toBeInstanceOf(LedgerUnavailableError);
    const allowed = await engine.authorize(request());
    expect((await engine.balance()).postedUsertokens).toBe(MILLION_EACH_UT);
    await allowed.void("not needed");
  });
});

describe("caller-supplied text on audit events", () => {
  it("records a broken or huge actor safely instead of stopping the audit chain", async () => {
    const { base, paths } = vault();
    const engine = await engineFor(base);
    for (const actor of ["bob\uD83D", "u".repeat(70_000)]) {
      const receipt = await (await engine.authorize(request({ actor }))).settle(
        makeUsage({ inputTokens: 10 }),
      );
      expect(receipt.auditDegraded).toBeUndefined();
    }
    const [broken, huge] = auditEvents(paths.auditLog);
    expect(broken?.actor).toBe("bob\uFFFD");
    expect(huge?.actor.length).toBeLessThan(300);
    expect(huge?.actor).toContain("sha256:");
    await expect(engine.authorize(request())).resolves.toBeDefined();
    expect(verifyChain(paths.auditLog, { headPath: paths.auditHead }).ok).toBe(true);
  });

  it("records a broken or huge scope and tool name safely too", async () => {
    const { base, paths } = vault();
    const engine = await engineFor(base);
    // e.g. a user id cut in the middle of an emoji ("team-😀".slice(0, 6)), used as a scope.
    const receipt = await (
      await engine.authorize(request({ scope: ["team-\uD83D", "s".repeat(70_000)] }))
    ).settle(makeUsage({ inputTokens: 10 }));
    expect(receipt.auditDegraded).toBeUndefined();
    await engine.reviewToolCall({ toolName: "lookup_\uD83D", input: {} });
    const [spend, tool] = auditEvents(paths.auditLog);
    expect(spend?.data.scope).toEqual(["team-\uFFFD", expect.stringContaining("sha256:")]);
    expect(tool?.data.toolName).toBe("lookup_\uFFFD");
    await expect(engine.authorize(request())).resolves.toBeDefined();
    expect(verifyChain(paths.auditLog, { headPath: paths.auditHead }).ok).toBe(true);
  });
});

describe("an audit log the disk refuses to grow", () => {
  /** A vault whose events.jsonl is /dev/full: every write to it fails with ENOSPC. */
  function fullDiskVault() {
    const made = vault();
    rmSync(made.paths.auditLog, { force: true }); // the empty chain `init` made
    symlinkSync("/dev/full", made.paths.auditLog);
    return made;
  }

  it("posts the spend, says auditDegraded on the receipt, and refuses the next call", async () => {
    const { base, paths } = fullDiskVault();
    const engine = await engineFor(base);
    const hold = await engine.authorize(request());
    const receipt = await hold.settle(MILLION_EACH);

    expect(receipt).toMatchObject({
      settled: true,
      cost: MILLION_EACH_UT,
      auditHash: "",
      auditDegraded: true,
    });
    expect(receipt.warnings.join(" ")).toMatch(/audit event could not be written: .*ENOSPC/);
    // The money is recorded even though its event is not: nothing can be spent twice.
    expect((await engine.balance()).postedUsertokens).toBe(MILLION_EACH_UT);
    await expect(engine.authorize(request())).rejects.toThrow(/earlier audit write failed/);
    const head = new SqliteLedger({ path: paths.ledger });
    cleanups.unshift(() => head.close());
    expect((await head.balance()).pendingUsertokens).toBe(0);
  });

  it("degrades every receipt of calls settled together, and loses none of their spend", async () => {
    const { base } = fullDiskVault();
    const engine = await engineFor(base);
    const holds = await Promise.all(Array.from({ length: 5 }, () => engine.authorize(request())));
    const receipts = await Promise.all(holds.map((hold) => hold.settle(makeUsage({ inputTokens: 1_000 }))));

    for (const receipt of receipts) expect(receipt).toMatchObject({ settled: true, auditDegraded: true });
    expect((await engine.balance()).postedUsertokens).toBe(receipts.reduce((sum, r) => sum + r.cost, 0));
  });
});
