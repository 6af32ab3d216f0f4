import { readFileSync } from "node:fs";
import type { AuditEvent } from "../../src/core/audit/audit-event.ts";

/** Every event in the JSONL audit log at `path`, in file order. */
export function readAuditLog(path: string): AuditEvent[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as AuditEvent);
}
