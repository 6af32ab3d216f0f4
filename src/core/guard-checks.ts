import type { TrustConfig } from "./config.ts";
import type { GovernedRequest } from "./governed-request.ts";
import { InjectionBlockedError, PiiBlockedError } from "./guards/guard-errors.ts";
import { findInjection, type InjectionKind } from "./guards/injection-detector.ts";
import { type PiiCounts, scanPii } from "./guards/pii-detector.ts";
import { Redactor } from "./guards/redactor.ts";
import type { Clearance, Refuse } from "./preflight.ts";

// The guard stages of the preflight. Each adds its findings to `clearance` and, in block mode,
// refuses through `refuse`.

/** Personal data and secrets in the prompt: refused, replaced by placeholders (redact) or noted (warn). */
export function checkPii(
  config: TrustConfig,
  request: GovernedRequest,
  clearance: Clearance,
  refuse: Refuse,
): PiiCounts {
  const mode = piiMode(config);
  if (mode.mode === "off") return {};
  const counts = scanPii(request.guardTexts?.conversation ?? request.promptParts);
  const found = Object.entries(counts);
  if (found.length === 0) return counts;
  clearance.audit.pii = counts;
  const summary = found.map(([kind, count]) => `${count} ${kind}`).join(", ");
  if (mode.mode === "block") {
    refuse("pii_blocked", { pii: counts }, new PiiBlockedError(counts));
  } else if (mode.mode === "redact") {
    clearance.redactor = new Redactor();
    clearance.restore = mode.restore;
    clearance.audit.piiRedacted = true;
    clearance.warnings.push(`personal data replaced by placeholders before sending: ${summary}`);
  } else {
    clearance.warnings.push(`personal data in the prompt (pii: warn): ${summary}`);
  }
  return counts;
}

/** Prompt-injection patterns in the prompt: refused (block) or noted (warn). */
export function checkInjection(
  config: TrustConfig,
  request: GovernedRequest,
  clearance: Clearance,
  refuse: Refuse,
): InjectionKind[] {
  if (config.injection === "off") return [];
  const kinds = new Set<InjectionKind>();
  const texts = request.guardTexts ?? { conversation: request.promptParts, definitions: [] };
  for (const part of [...texts.conversation, ...texts.definitions])
    for (const finding of findInjection(part)) kinds.add(finding.kind);
  if (kinds.size === 0) return [];
  const found = [...kinds];
  clearance.audit.injection = found;
  if (config.injection === "block") {
    refuse("injection_blocked", { injection: found }, new InjectionBlockedError(found));
  } else {
    clearance.warnings.push(`possible prompt injection (injection: warn): ${found.join(", ")}`);
  }
  return found;
}

function piiMode(config: TrustConfig): { mode: "redact" | "warn" | "block" | "off"; restore: boolean } {
  return typeof config.pii === "string" ? { mode: config.pii, restore: false } : config.pii;
}
