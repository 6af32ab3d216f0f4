import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditChain } from "../../../src/core/audit/audit-chain.ts";
import { type AuditEvent, GENESIS_HASH, hashEvent } from "../../../src/core/audit/audit-event.ts";
import { type ChainProblemKind, verifyChain } from "../../../src/core/audit/verify-chain.ts";
import { canonicalJson } from "../../../src/core/canonical-json.ts";
import { initVault, resolveVault, type VaultPaths } from "../../../src/core/vault.ts";
import { usertrust } from "../../support/run-cli.ts";

const EVENT_COUNT = 10;

const temps: string[] = [];
let template: { base: string; paths: VaultPaths };

function tempBase(): string {
  const base = mkdtempSync(join(tmpdir(), "usertrust-verify-"));
  temps.push(base);
  return base;
}

/** A vault of EVENT_COUNT real events written by AuditChain, the way the engine writes them. */
function buildTemplate(): { base: string; paths: VaultPaths } {
  const base = tempBase();
  const paths = resolveVault({ vaultBase: base });
  initVault(paths);
  const chain = new AuditChain({ logPath: paths.auditLog, headPath: paths.auditHead });
  for (let i = 1; i <= EVENT_COUNT; i++) {
    chain.append(i % 3 === 0 ? "hold_voided" : "spend", "tester", {
      transferId: `tx_${i}`,
      costUsertokens: i * 100,
    });
  }
  chain.close();
  return { base, paths };
}

/** A copy of the template vault (log and the database recording its head) whose log lines `edit` rewrites. */
function tamperedVault(edit: (lines: string[]) => string[] | string): { base: string; paths: VaultPaths } {
  const base = tempBase();
  cpSync(template.base, base, { recursive: true });
  const paths = resolveVault({ vaultBase: base });
  const lines = readFileSync(paths.auditLog, "utf8").split("\n").slice(0, -1);
  const edited = edit(lines);
  writeFileSync(paths.auditLog, typeof edited === "string" ? edited : `${edited.join("\n")}\n`);
  return { base, paths };
}

function eventAt(lines: string[], index: number): AuditEvent {
  const line = lines[index];
  if (line === undefined) throw new Error(`no line ${index + 1}`);
  return JSON.parse(line) as AuditEvent;
}

function rehash(event: AuditEvent): AuditEvent {
  const { hash: _old, ...unsigned } = event;
  return { ...unsigned, hash: hashEvent(unsigned) };
}

/** `lines` re-chained from genesis after `edit` changed some events: what a forger recomputing every hash writes. */
function rechained(lines: string[], edit: (event: AuditEvent, index: number) => void): string[] {
  let previousHash = GENESIS_HASH;
  return lines.map((_, index) => {
    const event = eventAt(lines, index);
    edit(event, index);
    const forged = rehash({ ...event, previousHash });
    previousHash = forged.hash;
    return canonicalJson(forged);
  });
}

async function expectBroken(
  vault: { base: string; paths: VaultPaths },
  expected: { line: number; kind: ChainProblemKind; events: number },
): Promise<void> {
  const result = verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead });
  expect(result.ok).toBe(false);
  expect(result.problem).toMatchObject({ line: expected.line, kind: expected.kind });
  expect(result.problem?.message).not.toBe("");
  expect(result.events).toBe(expected.events);

  const run = await usertrust("verify", "--vault-base", vault.base);
  expect(run.code).toBe(1);
  expect(run.stdout).toContain(`events.jsonl:${expected.line}`);
  expect(run.stdout).toContain(expected.kind);
  expect(run.stdout).toMatch(new RegExp(`\\b${expected.events} event`));
}

beforeAll(() => {
  template = buildTemplate();
});

afterAll(() => {
  for (const base of temps.splice(0)) rmSync(base, { recursive: true, force: true });
});

describe("verifyChain and `usertrust verify` on an intact chain", () => {
  it("reports every event verified, exit 0 and OK", async () => {
    const result = verifyChain(template.paths.auditLog, { headPath: template.paths.auditHead });
    expect(result).toMatchObject({ ok: true, events: EVENT_COUNT, lastSequence: EVENT_COUNT, problem: null });
    const lastLine = readFileSync(template.paths.auditLog, "utf8").trim().split("\n").at(-1) ?? "";
    expect(result.lastHash).toBe((JSON.parse(lastLine) as AuditEvent).hash);

    const run = await usertrust("verify", "--vault-base", template.base);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK: 10 events verified/);
    expect(run.stdout).toContain(result.lastHash);
  });

  it("prints machine-readable JSON with --json, for good and broken chains", async () => {
    const good = await usertrust("verify", "--json", "--vault-base", template.base);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ ok: true, events: EVENT_COUNT, problem: null });

    const vault = tamperedVault((lines) => lines.filter((_, index) => index !== 6));
    const bad = await usertrust("verify", "--json", "--vault-base", vault.base);
    expect(bad.code).toBe(1);
    const parsed = JSON.parse(bad.stdout) as {
      ok: boolean;
      events: number;
      problem: { line: number; kind: string };
    };
    expect(parsed).toMatchObject({ ok: false, events: 6, problem: { line: 7, kind: "broken_link" } });
  });

  it("ignores lines after the recorded head (a write in progress or never committed) instead of failing", async () => {
    const vault = tamperedVault((lines) => {
      const last = eventAt(lines, lines.length - 1);
      const next = rehash({
        ...last,
        id: "evt_in_flight",
        previousHash: last.hash,
        sequence: last.sequence + 1,
      });
      return [...lines, canonicalJson(next)];
    });
    expect(verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead })).toMatchObject({
      ok: true,
      events: EVENT_COUNT,
    });
    expect((await usertrust("verify", "--vault-base", vault.base)).code).toBe(0);
  });

  it("verifies an empty vault made by `usertrust init` as OK with 0 events", async () => {
    const base = tempBase();
    const init = await usertrust("init", "--vault-base", base);
    expect(init.code).toBe(0);
    const paths = resolveVault({ vaultBase: base });
    expect(verifyChain(paths.auditLog, { headPath: paths.auditHead })).toMatchObject({
      ok: true,
      events: 0,
      lastHash: GENESIS_HASH,
    });
    const run = await usertrust("verify", "--vault-base", base);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK: 0 events verified/);
  });

  it("exits 2 on bad usage: an unknown command, an unknown option, no command", async () => {
    const [unknownCommand, unknownOption, noCommand] = await Promise.all([
      usertrust("verfiy", "--vault-base", template.base),
      usertrust("verify", "--frobnicate", "--vault-base", template.base),
      usertrust(),
    ]);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain('unknown command "verfiy"');
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("frobnicate");
    expect(noCommand.code).toBe(2);
  });
});

describe("verifyChain and `usertrust verify` name the first bad line of a tampered log", () => {
  it("an edited field: hash_mismatch at that line", async () => {
    const vault = tamperedVault((lines) => {
      const event = eventAt(lines, 3);
      event.data.costUsertokens = 1;
      lines[3] = canonicalJson(event);
      return lines;
    });
    await expectBroken(vault, { line: 4, kind: "hash_mismatch", events: 3 });
  });

  it("a deleted middle line: broken_link at the line that followed it", async () => {
    const vault = tamperedVault((lines) => lines.filter((_, index) => index !== 4));
    await expectBroken(vault, { line: 5, kind: "broken_link", events: 4 });
  });

  it("two lines swapped: broken_link at the first of them", async () => {
    const vault = tamperedVault((lines) => {
      const [third, fourth] = [lines[2] ?? "", lines[3] ?? ""];
      lines[2] = fourth;
      lines[3] = third;
      return lines;
    });
    await expectBroken(vault, { line: 3, kind: "broken_link", events: 2 });
  });

  it("the last line cut mid-way: truncated_tail at that line", async () => {
    const vault = tamperedVault((lines) => {
      const text = `${lines.join("\n")}\n`;
      return text.slice(0, text.length - 40);
    });
    await expectBroken(vault, { line: EVENT_COUNT, kind: "truncated_tail", events: EVENT_COUNT - 1 });
  });

  it("whole last lines deleted: truncated_tail, found only through the recorded head", async () => {
    const vault = tamperedVault((lines) => lines.slice(0, EVENT_COUNT - 2));
    // The remaining lines are a valid chain on their own; only the recorded head shows the loss.
    expect(verifyChain(vault.paths.auditLog)).toMatchObject({ ok: true, events: EVENT_COUNT - 2 });
    await expectBroken(vault, { line: EVENT_COUNT - 1, kind: "truncated_tail", events: EVENT_COUNT - 2 });
  });

  it("the whole log deleted while the recorded head remains: truncated_tail at line 1", async () => {
    const vault = tamperedVault((lines) => lines);
    unlinkSync(vault.paths.auditLog);
    await expectBroken(vault, { line: 1, kind: "truncated_tail", events: 0 });
  });

  it("a line that is not JSON: malformed", async () => {
    const vault = tamperedVault((lines) => {
      lines[5] = '{"id":"evt_x","timestamp":';
      return lines;
    });
    await expectBroken(vault, { line: 6, kind: "malformed", events: 5 });
  });

  it("a JSON line missing a field: malformed, naming the field", async () => {
    const vault = tamperedVault((lines) => {
      const { sequence: _dropped, ...rest } = eventAt(lines, 1);
      lines[1] = JSON.stringify(rest);
      return lines;
    });
    await expectBroken(vault, { line: 2, kind: "malformed", events: 1 });
    const result = verifyChain(vault.paths.auditLog);
    expect(result.problem?.message).toContain("sequence");
  });

  it("a field added to a line: the line no longer verifies", async () => {
    // The hash covers "the event without hash"; a field slipped in afterwards must not pass as original.
    const vault = tamperedVault((lines) => {
      lines[2] = canonicalJson({ ...eventAt(lines, 2), approvedBy: "someone-who-was-not-there" });
      return lines;
    });
    const result = verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead });
    expect(result.ok).toBe(false);
    expect(result.problem?.line).toBe(3);
    expect(["hash_mismatch", "malformed"]).toContain(result.problem?.kind);
    const run = await usertrust("verify", "--vault-base", vault.base);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("events.jsonl:3");
  });

  it("an edited line whose hash was recomputed: broken_link at the NEXT line", async () => {
    const vault = tamperedVault((lines) => {
      const event = eventAt(lines, 3);
      event.data.costUsertokens = 1;
      lines[3] = canonicalJson(rehash(event));
      return lines;
    });
    await expectBroken(vault, { line: 5, kind: "broken_link", events: 4 });
  });

  it("a log re-chained end to end after an edit: the head recorded in the vault database exposes the rewrite", async () => {
    const vault = tamperedVault((lines) =>
      rechained(lines, (event, index) => {
        if (index === 3) event.data.costUsertokens = 1;
      }),
    );
    expect(verifyChain(vault.paths.auditLog)).toMatchObject({ ok: true, events: EVENT_COUNT });
    await expectBroken(vault, { line: EVENT_COUNT + 1, kind: "hash_mismatch", events: EVENT_COUNT });
  });

  it("a log re-chained after an edit that made a line LONGER: hash_mismatch at the line the head falls inside", async () => {
    // The recorded head's byte offset now lands inside the last line, which reads as unfinished.
    const vault = tamperedVault((lines) =>
      rechained(lines, (event, index) => {
        if (index === 3) event.data.costUsertokens = 400_000;
      }),
    );
    await expectBroken(vault, { line: EVENT_COUNT, kind: "hash_mismatch", events: EVENT_COUNT - 1 });
  });

  it("a log re-chained longer, then cut back to the recorded length: hash_mismatch, not a cut mid-event", async () => {
    const vault = tamperedVault((lines) => {
      const text = `${rechained(lines, (event, index) => {
        if (index === 3) event.data.costUsertokens = 400_000;
      }).join("\n")}\n`;
      // 400 -> 400000 added 3 bytes: cutting 3 leaves exactly the recorded length, ending mid-line.
      return text.slice(0, text.length - 3);
    });
    await expectBroken(vault, { line: EVENT_COUNT, kind: "hash_mismatch", events: EVENT_COUNT - 1 });
  });

  it("a log re-chained so the recorded head ends on an earlier event's line: hash_mismatch, not events cut from the end", async () => {
    const vault = tamperedVault((lines) => {
      // Line 4 grows by exactly the last line's length, so the recorded length ends on line 9's newline.
      const lastLineBytes = Buffer.byteLength(lines.at(-1) ?? "", "utf8") + 1;
      const grownBy = (pad: string) =>
        Buffer.byteLength(canonicalJson({ ...eventAt(lines, 3).data, pad }), "utf8") -
        Buffer.byteLength(canonicalJson(eventAt(lines, 3).data), "utf8");
      const pad = "x".repeat(lastLineBytes - grownBy(""));
      return rechained(lines, (event, index) => {
        if (index === 3) event.data.pad = pad;
      });
    });
    await expectBroken(vault, { line: EVENT_COUNT, kind: "hash_mismatch", events: EVENT_COUNT - 1 });
  });

  for (const [name, edit] of [
    [
      "a number out of range (1e999 reads as Infinity)",
      (line: string) => line.replace(/"costUsertokens":\d+/, '"costUsertokens":1e999'),
    ],
    [
      "a lone surrogate escape in a string",
      (line: string) => line.replace('"actor":"tester"', '"actor":"\\ud800"'),
    ],
    [
      "data nested deeper than 64 levels",
      (line: string) => line.replace('"data":{', `"data":{"x":${"[".repeat(70)}${"]".repeat(70)},`),
    ],
  ] as const) {
    it(`an edit canonical JSON cannot hash, ${name}: hash_mismatch at that line, not a crash`, async () => {
      const vault = tamperedVault((lines) => {
        const edited = edit(lines[2] ?? "");
        expect(edited).not.toBe(lines[2]);
        lines[2] = edited;
        return lines;
      });
      await expectBroken(vault, { line: 3, kind: "hash_mismatch", events: 2 });
    });
  }

  it("a sequence gap with valid hashes and links: sequence_gap", async () => {
    const base = tempBase();
    const paths = resolveVault({ vaultBase: base });
    initVault(paths);
    let previousHash = GENESIS_HASH;
    const lines = [1, 2, 3, 5, 6].map((sequence) => {
      const event = rehash({
        id: `evt_gap_${sequence}`,
        timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, sequence)).toISOString(),
        previousHash,
        hash: "",
        kind: "spend",
        actor: "tester",
        data: { sequence },
        sequence,
      });
      previousHash = event.hash;
      return canonicalJson(event);
    });
    writeFileSync(paths.auditLog, `${lines.join("\n")}\n`);
    await expectBroken({ base, paths }, { line: 4, kind: "sequence_gap", events: 3 });
  });
});
