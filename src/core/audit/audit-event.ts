import { hash } from "node:crypto";
import { canonicalJson, serializeString } from "../canonical-json.ts";

/** The previousHash of the first event of a chain. */
export const GENESIS_HASH = "0".repeat(64);

/** One line of `.usertrust/audit/events.jsonl`. */
export interface AuditEvent {
  id: string;
  /** ISO 8601. */
  timestamp: string;
  previousHash: string;
  /** sha256 over the RFC 8785 canonical JSON of every other field. */
  hash: string;
  kind: AuditEventKind | (string & {});
  actor: string;
  data: Record<string, unknown>;
  /** 1 for the first event, then gap-free. */
  sequence: number;
}

/** The kinds the engine writes. */
export type AuditEventKind =
  | "spend"
  | "call_failed"
  | "hold_voided"
  | "budget_exceeded"
  | "budget_threshold"
  | "unknown_model"
  | "settle_failed"
  | "audit_repaired"
  | "circuit_open"
  | "circuit_state"
  | "policy_denied"
  | "policy_reload_failed"
  | "pii_blocked"
  | "injection_blocked"
  | "board_blocked"
  | "board_escalated"
  | "tool_call"
  | "decision";

/** sha256 over the canonical JSON of every field but `hash`, including any field someone added. */
export function hashEvent(event: Omit<AuditEvent, "hash"> & { hash?: string }): string {
  const { hash: _excluded, ...signed } = event;
  return sha256Hex(canonicalJson(signed));
}

/**
 * Hashes a new event and renders its log line in one pass. The top-level keys of an event are
 * fixed, so their RFC 8785 order is known: each member is canonicalized once and the two strings
 * (without and with `hash`) are assembled around it. `hashEvent` stays the generic definition
 * that `verify` uses, and tests hold the two to the same result.
 */
export function sealEvent(unsigned: Omit<AuditEvent, "hash">): { event: AuditEvent; line: string } {
  const head = `{"actor":${serializeString(unsigned.actor)},"data":${canonicalJson(unsigned.data)}`;
  const tail =
    `"id":${serializeString(unsigned.id)},"kind":${serializeString(unsigned.kind)},` +
    `"previousHash":${serializeString(unsigned.previousHash)},"sequence":${canonicalJson(unsigned.sequence)},` +
    `"timestamp":${serializeString(unsigned.timestamp)}}`;
  const hash = sha256Hex(`${head},${tail}`);
  return { event: { ...unsigned, hash }, line: `${head},"hash":"${hash}",${tail}\n` };
}

export function sha256Hex(text: string | Uint8Array): string {
  return hash("sha256", text, "hex");
}

/** Longer caller-supplied strings are shortened and keep a hash of the whole, so events stay small. */
const CALLER_TEXT_CHARS_MAX = 256;
const LONE_SURROGATES = /\p{Surrogate}/gu;

/**
 * Makes a caller-supplied string (an actor, a model name) safe to record: lone UTF-16 surrogates,
 * which canonical JSON refuses, become U+FFFD, and over-long text is cut with a hash of the original.
 * One odd user id must not be able to stop the audit chain.
 */
export function auditText(text: string): string {
  const wellFormed = text.replace(LONE_SURROGATES, "\uFFFD");
  if (wellFormed.length <= CALLER_TEXT_CHARS_MAX) return wellFormed;
  return `${wellFormed.slice(0, 128).replace(LONE_SURROGATES, "\uFFFD")}…sha256:${sha256Hex(wellFormed)}`;
}
