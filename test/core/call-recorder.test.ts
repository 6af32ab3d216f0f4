import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AuditChain } from "../../src/core/audit/audit-chain.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { CallRecorder } from "../../src/core/call-recorder.ts";
import { readAuditLog } from "../support/audit-log.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function recorderOn(): { recorder: CallRecorder; logPath: string; headPath: string } {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-recorder-"));
  dirs.push(dir);
  const logPath = join(dir, "events.jsonl");
  const headPath = join(dir, "ledger.db");
  return { recorder: new CallRecorder(new AuditChain({ logPath, headPath }), "local"), logPath, headPath };
}

describe("CallRecorder", () => {
  it("writes an event whose data has no canonical form with that text made well-formed, and keeps going", () => {
    const { recorder, logPath, headPath } = recorderOn();
    const event = recorder.append("decision", undefined, {
      note: "cut emoji \uD83D",
      ratio: Number.POSITIVE_INFINITY,
    });
    expect(event).not.toBeNull();
    expect(() => recorder.assertWorking()).not.toThrow();
    const [written] = readAuditLog(logPath);
    expect(written?.data).toEqual({ note: "cut emoji \uFFFD", ratio: null });
    recorder.close();
    expect(verifyChain(logPath, { headPath })).toMatchObject({ ok: true, events: 1 });
  });
});
