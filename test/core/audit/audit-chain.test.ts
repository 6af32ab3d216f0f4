import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import canonicalize from "canonicalize";
import { afterEach, describe, expect, it } from "vitest";
import { AuditChain, EVENT_BYTES_MAX } from "../../../src/core/audit/audit-chain.ts";
import { type AuditEvent, GENESIS_HASH, hashEvent } from "../../../src/core/audit/audit-event.ts";
import { verifyChain } from "../../../src/core/audit/verify-chain.ts";
import { canonicalJson } from "../../../src/core/canonical-json.ts";
import { createEngine } from "../../../src/core/create-engine.ts";
import {
  AuditError,
  BudgetExceededError,
  ClientDestroyedError,
  UnknownModelError,
} from "../../../src/core/errors.ts";
import { makeUsage } from "../../../src/core/usage.ts";
import { VaultDatabase } from "../../../src/core/vault-database.ts";
import { readAuditLog } from "../../support/audit-log.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

const AUDIT_CHAIN_MODULE = resolve(import.meta.dirname, "../../../src/core/audit/audit-chain.ts");
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function tempChainFiles(): { dir: string; logPath: string; headPath: string } {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-chain-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, logPath: join(dir, "events.jsonl"), headPath: join(dir, "head.db") };
}

function openChain(files: { logPath: string; headPath: string }): AuditChain {
  const chain = new AuditChain(files);
  cleanups.unshift(() => chain.close());
  return chain;
}

function appendEvents(chain: AuditChain, count: number): AuditEvent[] {
  return Array.from({ length: count }, (_, i) => chain.append("spend", "tester", { n: i }));
}

/** The next event after `previous`, built by hand the way a writer that crashed before recording it would have. */
function nextEventLine(
  previous: AuditEvent,
  data: Record<string, unknown> = {},
): { event: AuditEvent; line: string } {
  const unsigned = {
    id: `evt_manual_${previous.sequence + 1}`,
    timestamp: new Date().toISOString(),
    previousHash: previous.hash,
    kind: "spend",
    actor: "crashed-writer",
    data,
    sequence: previous.sequence + 1,
  };
  const event = { ...unsigned, hash: hashEvent(unsigned) };
  return { event, line: `${canonicalJson(event)}\n` };
}

function tornFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith("events.jsonl.torn-"));
}

function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

describe("AuditChain appends", () => {
  it("numbers events 1..N, links each to the one before and chains the first from GENESIS_HASH", () => {
    const files = tempChainFiles();
    const chain = openChain(files);
    const returned = appendEvents(chain, 12);
    const events = readAuditLog(files.logPath);
    expect(events).toEqual(returned);
    expect(events.map((event) => event.sequence)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(events[0]?.previousHash).toBe(GENESIS_HASH);
    expect(GENESIS_HASH).toBe("0".repeat(64));
    for (let i = 1; i < events.length; i++) expect(events[i]?.previousHash).toBe(events[i - 1]?.hash);
    expect(new Set(events.map((event) => event.id)).size).toBe(12);
  });

  it("hashes sha256 over the RFC 8785 canonical JSON of the event without its hash", () => {
    const files = tempChainFiles();
    const chain = openChain(files);
    const awkwardData = {
      "\u20ac": "€ and \u2028 and \ud83d\ude00",
      a: 1.5,
      big: 1e21,
      small: 1e-7,
      négatif: -0,
      nested: { z: [3, "x", null, true], b: { y: 2, x: 1 } },
      "1": "numeric-looking key",
      A: "upper sorts before lower",
    };
    chain.append("spend", "tester", awkwardData);
    chain.append("hold_voided", "ünïcode-actor", { reason: 'quote " and backslash \\' });
    const lines = readFileSync(files.logPath, "utf8").split("\n").slice(0, -1);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const event = JSON.parse(line) as AuditEvent;
      const { hash, ...unsigned } = event;
      // An independent RFC 8785 implementation gives the same bytes, so any verifier can recompute.
      const reference = canonicalize(unsigned);
      expect(reference).toBeDefined();
      expect(canonicalJson(unsigned)).toBe(reference);
      expect(hash).toBe(sha256(reference ?? ""));
      // The log line itself is the canonical form of the whole event.
      expect(line).toBe(canonicalize(event));
    }
  });

  it("keeps one valid chain when two writers on the same files interleave appends", () => {
    const files = tempChainFiles();
    const first = openChain(files);
    const second = openChain(files);
    const sequences: number[] = [];
    for (let i = 0; i < 20; i++) {
      const writer = i % 3 === 0 ? second : first;
      sequences.push(writer.append("spend", i % 3 === 0 ? "second" : "first", { i }).sequence);
    }
    expect(sequences).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 20 });
  });

  it("keeps one valid chain when several OS processes append at the same time", async () => {
    const files = tempChainFiles();
    const script = `
      const { AuditChain } = await import(${JSON.stringify(AUDIT_CHAIN_MODULE)});
      const chain = new AuditChain({ logPath: process.argv[1], headPath: process.argv[2] });
      for (let i = 0; i < 25; i++) chain.append("spend", "process-" + process.argv[3], { i });
      chain.close();
    `;
    const runs = [1, 2, 3, 4].map(
      (n) =>
        new Promise<number | null>((done, fail) => {
          const child = spawn(
            process.execPath,
            [
              "--experimental-strip-types",
              "--no-warnings",
              "--input-type=module",
              "-e",
              script,
              files.logPath,
              files.headPath,
              String(n),
            ],
            { stdio: ["ignore", "ignore", "inherit"] },
          );
          child.on("error", fail);
          child.on("close", done);
        }),
    );
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0]);
    const events = readAuditLog(files.logPath);
    expect(events.map((event) => event.sequence)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 100 });
    expect(tornFiles(files.dir)).toEqual([]);
  });

  it("refuses an event over 64 KiB with AuditError, writes nothing, and keeps the chain usable", () => {
    const files = tempChainFiles();
    const chain = openChain(files);
    const base = chain.append("spend", "tester", { blob: "" });
    const baseLineBytes = statSync(files.logPath).size;
    expect(EVENT_BYTES_MAX).toBe(64 * 1024);

    // Same sequence digit count, so the line grows by exactly the blob's length.
    const atLimit = chain.append("spend", "tester", { blob: "x".repeat(EVENT_BYTES_MAX - baseLineBytes) });
    expect(atLimit.sequence).toBe(2);
    expect(statSync(files.logPath).size).toBe(baseLineBytes + EVENT_BYTES_MAX);

    const sizeBefore = statSync(files.logPath).size;
    expect(() =>
      chain.append("spend", "tester", { blob: "x".repeat(EVENT_BYTES_MAX - baseLineBytes + 1) }),
    ).toThrow(AuditError);
    expect(() => chain.append("spend", "tester", { blob: "x".repeat(200 * 1024) })).toThrow(
      /exceeds the 65536-byte limit/,
    );
    expect(statSync(files.logPath).size).toBe(sizeBefore);

    const after = chain.append("spend", "tester", { small: true });
    expect(after.sequence).toBe(3);
    expect(base.sequence).toBe(1);
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 3 });
  });

  it("throws ClientDestroyedError after close", () => {
    const files = tempChainFiles();
    const chain = new AuditChain(files);
    chain.close();
    chain.close();
    expect(() => chain.append("spend", "tester", {})).toThrow(ClientDestroyedError);
  });
});

describe("AuditChain inside the ledger's transactions", () => {
  function sharedChain() {
    const files = tempChainFiles();
    const database = new VaultDatabase(files.headPath, "normal");
    const chain = new AuditChain({ logPath: files.logPath, database });
    cleanups.unshift(() => {
      chain.close();
      database.close();
    });
    return { files, database, chain };
  }

  it("leaves no line of a batched step that was undone, and no repair for it", async () => {
    const { files, database, chain } = sharedChain();
    const outcomes = await Promise.allSettled([
      database.batched(() => chain.append("spend", "a", { n: 1 })),
      database.batched(() => {
        chain.append("spend", "b", { n: 2 });
        throw new Error("this step failed after its event");
      }),
      database.batched(() => chain.append("spend", "c", { n: 3 })),
    ]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const events = readAuditLog(files.logPath);
    expect(events.map((event) => [event.actor, event.sequence])).toEqual([
      ["a", 1],
      ["c", 2],
    ]);
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 2 });
    expect(tornFiles(files.dir)).toEqual([]);
  });

  it("writes nothing for a transaction that rolls back, and chains the next event from the last kept one", () => {
    const { files, database, chain } = sharedChain();
    const first = chain.append("spend", "tester", { n: 1 });
    expect(() =>
      database.transaction(() => {
        chain.append("spend", "tester", { n: 2 });
        throw new Error("the ledger step failed");
      }),
    ).toThrow("the ledger step failed");
    const next = chain.append("spend", "tester", { n: 3 });

    expect(next).toMatchObject({ sequence: 2, previousHash: first.hash });
    expect(readAuditLog(files.logPath).map((event) => event.data.n)).toEqual([1, 3]);
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 2 });
  });
});

describe("AuditChain crash recovery", () => {
  it("sets aside a complete line whose writer crashed before committing, since its ledger step rolled back too", () => {
    const files = tempChainFiles();
    const first = new AuditChain(files);
    const written = appendEvents(first, 3);
    first.close();
    const last = written.at(-1);
    if (last === undefined) throw new Error("no events");
    const uncommitted = nextEventLine(last, { adopted: true });
    appendFileSync(files.logPath, uncommitted.line);

    const chain = openChain(files);
    const next = chain.append("spend", "tester", { after: "repair" });
    const events = readAuditLog(files.logPath);
    expect(events.map((event) => [event.sequence, event.kind])).toEqual([
      [1, "spend"],
      [2, "spend"],
      [3, "spend"],
      [4, "audit_repaired"],
      [5, "spend"],
    ]);
    expect(events.map((event) => event.id)).not.toContain(uncommitted.event.id);
    expect(next.sequence).toBe(5);
    const sideFiles = tornFiles(files.dir);
    expect(sideFiles).toHaveLength(1);
    expect(readFileSync(join(files.dir, sideFiles[0] ?? ""), "utf8")).toBe(uncommitted.line);
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 5 });
  });

  it("adopts a whole log whose head record is missing", () => {
    const files = tempChainFiles();
    const first = new AuditChain(files);
    appendEvents(first, 4);
    first.close();
    unlinkSync(files.headPath);

    const chain = openChain(files);
    expect(chain.append("spend", "tester", {}).sequence).toBe(5);
    expect(tornFiles(files.dir)).toEqual([]);
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 5 });
  });

  it("adopts a head-less log only up to a line canonical JSON cannot hash, and sets the rest aside", () => {
    const files = tempChainFiles();
    const first = new AuditChain(files);
    appendEvents(first, 4);
    first.close();
    unlinkSync(files.headPath);
    const lines = readFileSync(files.logPath, "utf8").split("\n");
    lines[2] = (lines[2] ?? "").replace('"n":2', '"n":1e999');
    writeFileSync(files.logPath, lines.join("\n"));
    const setAside = `${lines.slice(2).join("\n")}`;

    const chain = openChain(files);
    expect(chain.append("spend", "tester", {}).sequence).toBe(4);
    expect(readAuditLog(files.logPath).map((event) => event.kind)).toEqual([
      "spend",
      "spend",
      "audit_repaired",
      "spend",
    ]);
    const sideFiles = tornFiles(files.dir);
    expect(sideFiles).toHaveLength(1);
    expect(readFileSync(join(files.dir, sideFiles[0] ?? ""), "utf8")).toBe(setAside);
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 4 });
  });

  it("moves a torn partial line to a side file with its bytes intact and records audit_repaired", () => {
    const files = tempChainFiles();
    const first = new AuditChain(files);
    const written = appendEvents(first, 3);
    first.close();
    const lastGood = written.at(-1);
    if (lastGood === undefined) throw new Error("no events");
    const goodLog = readFileSync(files.logPath);
    const torn = Buffer.from('{"actor":"tester","data":{"n":3},"hash":"ab12', "utf8");
    appendFileSync(files.logPath, torn);

    const chain = openChain(files);
    const next = chain.append("spend", "tester", { after: "repair" });

    const sideFiles = tornFiles(files.dir);
    expect(sideFiles).toHaveLength(1);
    const sideFile = join(files.dir, sideFiles[0] ?? "");
    expect(readFileSync(sideFile).equals(torn)).toBe(true);

    const events = readAuditLog(files.logPath);
    expect(events).toHaveLength(5);
    const repaired = events[3];
    expect(repaired).toMatchObject({
      kind: "audit_repaired",
      sequence: 4,
      previousHash: lastGood.hash,
      data: { file: sideFile, bytes: torn.length, sha256: sha256(torn) },
    });
    expect(next).toMatchObject({ sequence: 5, previousHash: repaired?.hash });
    expect(readFileSync(files.logPath).subarray(0, goodLog.length).equals(goodLog)).toBe(true);
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 5 });
  });

  it("sets aside an uncommitted complete line and the torn remainder after it together, bytes intact", () => {
    const files = tempChainFiles();
    const first = new AuditChain(files);
    const written = appendEvents(first, 2);
    first.close();
    const last = written.at(-1);
    if (last === undefined) throw new Error("no events");
    const uncommitted = nextEventLine(last);
    const torn = Buffer.from(nextEventLine(uncommitted.event).line.slice(0, 50), "utf8");
    appendFileSync(files.logPath, uncommitted.line);
    appendFileSync(files.logPath, torn);

    const chain = openChain(files);
    chain.append("spend", "tester", {});
    const events = readAuditLog(files.logPath);
    expect(events.map((event) => [event.sequence, event.kind])).toEqual([
      [1, "spend"],
      [2, "spend"],
      [3, "audit_repaired"],
      [4, "spend"],
    ]);
    const sideFiles = tornFiles(files.dir);
    expect(sideFiles).toHaveLength(1);
    const setAside = readFileSync(join(files.dir, sideFiles[0] ?? ""));
    expect(setAside.equals(Buffer.concat([Buffer.from(uncommitted.line, "utf8"), torn]))).toBe(true);
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 4 });
  });

  it("sets aside a complete line that does not chain on instead of adopting it", () => {
    const files = tempChainFiles();
    const first = new AuditChain(files);
    appendEvents(first, 2);
    first.close();
    const foreign = `${canonicalJson({ note: "written by something else" })}\n`;
    appendFileSync(files.logPath, foreign);

    const chain = openChain(files);
    chain.append("spend", "tester", {});
    const sideFiles = tornFiles(files.dir);
    expect(sideFiles).toHaveLength(1);
    expect(readFileSync(join(files.dir, sideFiles[0] ?? ""), "utf8")).toBe(foreign);
    expect(readAuditLog(files.logPath).map((event) => event.kind)).toEqual([
      "spend",
      "spend",
      "audit_repaired",
      "spend",
    ]);
    expect(verifyChain(files.logPath, { headPath: files.headPath })).toMatchObject({ ok: true, events: 4 });
  });

  it("refuses to append to a log shorter than its recorded head, and writes nothing", () => {
    const files = tempChainFiles();
    const first = new AuditChain(files);
    appendEvents(first, 5);
    first.close();
    const lines = readFileSync(files.logPath, "utf8").split("\n");
    const keptBytes = Buffer.byteLength(`${lines.slice(0, 4).join("\n")}\n`, "utf8");
    truncateSync(files.logPath, keptBytes);
    const logBefore = readFileSync(files.logPath);

    const chain = openChain(files);
    expect(() => chain.append("spend", "tester", {})).toThrow(AuditError);
    expect(() => chain.append("spend", "tester", {})).toThrow(/usertrust verify/);
    expect(readFileSync(files.logPath).equals(logBefore)).toBe(true);
    expect(tornFiles(files.dir)).toEqual([]);
    // The head record was not rewritten to hide the loss.
    expect(verifyChain(files.logPath, { headPath: files.headPath }).problem).toMatchObject({
      kind: "truncated_tail",
      line: 5,
    });
  });

  it("refuses to append when lines before the head were rewritten longer, instead of cutting an event in half", () => {
    const files = tempChainFiles();
    const first = new AuditChain(files);
    appendEvents(first, 5);
    first.close();
    // A forger re-chains the log after making event 3 longer: the recorded head's byte offset now
    // falls inside the last line, and what lies after it looks like a torn tail.
    let previousHash = GENESIS_HASH;
    const forged = readFileSync(files.logPath, "utf8")
      .trim()
      .split("\n")
      .map((line, index) => {
        const { hash: _old, ...event } = JSON.parse(line) as AuditEvent;
        if (index === 2) event.data = { n: 2_000_000 };
        const unsigned = { ...event, previousHash };
        const signed = { ...unsigned, hash: hashEvent(unsigned) };
        previousHash = signed.hash;
        return canonicalJson(signed);
      });
    writeFileSync(files.logPath, `${forged.join("\n")}\n`);
    const logBefore = readFileSync(files.logPath);

    const chain = openChain(files);
    expect(() => chain.append("spend", "tester", {})).toThrow(/rewritten.*usertrust verify/);
    expect(readFileSync(files.logPath).equals(logBefore)).toBe(true);
    expect(tornFiles(files.dir)).toEqual([]);
  });
});

describe("the audit log never stores prompt text", () => {
  it("records hashes and counts for spends, voids and denials, never the prompt", async () => {
    const secret = "sk-live-9f8e7d6c5b4a-DO-NOT-LOG";
    const systemPrompt = "You are the payroll assistant for ACME Corp";
    const vault = makeTempVault({ budget: 100_000 });
    cleanups.push(vault.cleanup);
    const engine = await createEngine({ vaultBase: vault.base });
    const promptParts = [systemPrompt, `my api key is ${secret}, please remember it`];

    const spent = await engine.authorize({
      provider: "openai",
      model: "gpt-4o-mini",
      promptParts,
      maxOutputTokens: 50,
    });
    await spent.settle(makeUsage({ inputTokens: 40, outputTokens: 20 }));
    const voided = await engine.authorize({
      provider: "openai",
      model: "gpt-4o-mini",
      promptParts,
      maxOutputTokens: 50,
    });
    await voided.void(`provider error echoing nothing`);
    await expect(
      engine.authorize({ provider: "openai", model: "no-such-model-xyz", promptParts, maxOutputTokens: 50 }),
    ).rejects.toThrow(UnknownModelError);
    await expect(
      engine.authorize({
        provider: "openai",
        model: "gpt-4o-mini",
        promptParts,
        maxOutputTokens: 100_000_000,
      }),
    ).rejects.toThrow(BudgetExceededError);
    await engine.close();

    const log = readFileSync(vault.paths.auditLog, "utf8");
    expect(readAuditLog(vault.paths.auditLog).map((event) => event.kind)).toEqual([
      "spend",
      "call_failed",
      "unknown_model",
      "budget_exceeded",
    ]);
    expect(log).not.toContain(secret);
    expect(log).not.toContain("sk-live");
    expect(log).not.toContain(systemPrompt);
    expect(log).not.toContain("payroll");
    expect(log).not.toContain("remember it");
    expect(verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead }).ok).toBe(true);
  });
});
