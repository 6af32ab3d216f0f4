import type { AuditEvent } from "./audit-event.ts";

const HASH_PATTERN = /^[0-9a-f]{64}$/;

/** Parses one log line into an AuditEvent, or null when it is not JSON or lacks a field of the right type. */
export function parseEventLine(line: string): AuditEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  return isAuditEvent(value) ? value : null;
}

/** Names what is wrong with a parsed line's shape, or null when it has every field. */
export function describeShapeProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object";
  const event = value as Record<string, unknown>;
  for (const field of ["id", "timestamp", "kind", "actor"] as const) {
    if (typeof event[field] !== "string") return `field "${field}" is missing or not a string`;
  }
  for (const field of ["previousHash", "hash"] as const) {
    if (typeof event[field] !== "string" || !HASH_PATTERN.test(event[field] as string)) {
      return `field "${field}" is missing or not a 64-character hex SHA-256`;
    }
  }
  if (!Number.isSafeInteger(event.sequence) || (event.sequence as number) < 1) {
    return 'field "sequence" is missing or not a positive integer';
  }
  if (typeof event.data !== "object" || event.data === null || Array.isArray(event.data)) {
    return 'field "data" is missing or not an object';
  }
  return null;
}

function isAuditEvent(value: unknown): value is AuditEvent {
  return describeShapeProblem(value) === null;
}
