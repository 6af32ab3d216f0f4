import type { ConcernSeverity } from "./board-types.ts";
import { concernFrom, type Detector, type Signal } from "./concern-signal.ts";
import { type ReviewSubject, readNumber, readString, readStrings } from "./review-subject.ts";
import { isSeverity } from "./severity.ts";

/*
 * The detectors that read what the call does: the tools it offers or calls, its declared scope, its
 * cost against the budget, its rate, and what the policy gate and the PII guard found before it.
 */

// ─── scope_creep (Director Beta) ───────────────────────────────────────────────────────────────────
//
//   high    a requested tool (toolNames / toolName) is not in context.allowedTools, when given
//   high    the scope is read-only ("read-only", "readonly", "read") and a tool name or the
//           description names a writing or destructive action (delete, write, send, transfer,
//           exec …), or the tool arguments carry a writing command (DELETE FROM, DROP TABLE, rm -r …)
//   medium  the scope names a deployment environment (dev, test, staging, prod …) and the
//           description, tool name or tool arguments mention another one

const READ_ONLY_SCOPE = /^(?:read[-_ ]?only|read)$/i;
const WRITING_TOOL_WORD =
  /(?:^|[^a-z])(?:delete|del|remove|rm|drop|truncate|destroy|purge|wipe|write|update|upsert|insert|create|put|patch|set|modify|edit|rename|move|upload|send|post|publish|transfer|pay|charge|refund|withdraw|exec|execute|shell|bash|eval|deploy|kill|restart|shutdown)(?:[^a-z]|$)/;
const WRITING_DESCRIPTION =
  /\b(?:delete|remove|drop|truncate|destroy|purge|wipe|write|overwrite|update|upsert|insert|create|modify|edit|rename|move|upload|send|publish|transfer|pay|charge|refund|withdraw|execute|deploy|kill|restart|shut ?down)\b/i;
const WRITING_COMMAND =
  /\b(?:insert\s+into|update\s+\w+\s+set|delete\s+from|drop\s+(?:table|database|schema|index)|truncate\s+table|alter\s+table|rm\s+-[a-z]*r)/i;

const ENVIRONMENT_OF: Readonly<Record<string, string>> = {
  dev: "development",
  development: "development",
  local: "development",
  test: "test",
  testing: "test",
  qa: "test",
  stage: "staging",
  staging: "staging",
  preprod: "staging",
  prod: "production",
  production: "production",
  live: "production",
};
/**
 * Only unambiguous environment words count as a mention ("test" and "live" are everyday words).
 * Letters bound the word, not \b, so `deploy_prod` and `prod2` mention production too.
 */
const ENVIRONMENT_MENTION = /(?<![a-z])(?:development|staging|preprod|prod|production)(?![a-z])/gi;
const TOOLS_LISTED_MAX = 5;

export const detectScopeCreep: Detector = (subject) => {
  const signals: Signal[] = [];
  const allowedTools = subject.context.allowedTools;
  if (Array.isArray(allowedTools)) {
    const outside = subject.tools.filter((tool) => !allowedTools.includes(tool));
    if (outside.length > 0) {
      signals.push({ severity: "high", detail: `tools outside the allowed list: ${listNames(outside)}` });
    }
  }
  if (subject.scope.some((entry) => READ_ONLY_SCOPE.test(entry.trim()))) {
    const writingTools = subject.tools.filter((tool) => WRITING_TOOL_WORD.test(toolWords(tool)));
    if (writingTools.length > 0) {
      signals.push({
        severity: "high",
        detail: `the scope is read-only but the call offers writing tools: ${listNames(writingTools)}`,
      });
    }
    if (WRITING_DESCRIPTION.test(subject.description) || WRITING_COMMAND.test(subject.toolArguments)) {
      signals.push({
        severity: "high",
        detail: "the scope is read-only but the call describes a writing action",
      });
    }
  }
  const crossed = environmentsOutsideScope(subject);
  if (crossed !== undefined) signals.push({ severity: "medium", detail: crossed });
  return concernFrom("scope_creep", signals);
};

/** `deleteUser`, `files.delete` and `DELETE_USER` all read as lowercase words split by `_`. */
function toolWords(tool: string): string {
  return tool.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

function environmentsOutsideScope(subject: ReviewSubject): string | undefined {
  const declared = new Set<string>();
  for (const entry of subject.scope) {
    for (const word of entry.toLowerCase().split(/[^a-z]+/)) {
      const environment = ENVIRONMENT_OF[word];
      if (environment !== undefined) declared.add(environment);
    }
  }
  if (declared.size === 0) return undefined;
  const mentioned = new Set<string>();
  for (const text of [subject.description, subject.toolArguments, ...subject.tools]) {
    for (const match of text.matchAll(ENVIRONMENT_MENTION)) {
      const environment = ENVIRONMENT_OF[match[0].toLowerCase()];
      if (environment !== undefined && !declared.has(environment)) mentioned.add(environment);
    }
  }
  if (mentioned.size === 0) return undefined;
  return `the call mentions ${[...mentioned].join(", ")} but the scope declares ${[...declared].join(", ")}`;
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, TOOLS_LISTED_MAX).join(", ");
  return names.length > TOOLS_LISTED_MAX ? `${shown} and ${names.length - TOOLS_LISTED_MAX} more` : shown;
}

// ─── resource_abuse (Director Beta) ────────────────────────────────────────────────────────────────
//
//   estimatedCost ÷ budgetRemaining   ≥ 100 % critical (nothing left to pay it), ≥ 50 % high,
//                                     ≥ 25 % medium, ≥ 10 % low
//   estimatedCost (UT, 1 UT = $0.0001) ≥ 100 000 ($10) high, ≥ 20 000 ($2) medium, ≥ 5 000 ($0.50) low
//   maxOutputTokens                   ≥ 1 000 000 high, ≥ 128 000 medium, ≥ 64 000 low, ≥ 32 000 info
//   requestsLastMinute                ≥ 10 000 critical, ≥ 3 000 high, ≥ 600 medium, ≥ 120 low

interface Step {
  atLeast: number;
  severity: ConcernSeverity;
}

const BUDGET_SHARE_STEPS: readonly Step[] = [
  { atLeast: 1, severity: "critical" },
  { atLeast: 0.5, severity: "high" },
  { atLeast: 0.25, severity: "medium" },
  { atLeast: 0.1, severity: "low" },
];
const COST_UT_STEPS: readonly Step[] = [
  { atLeast: 100_000, severity: "high" },
  { atLeast: 20_000, severity: "medium" },
  { atLeast: 5_000, severity: "low" },
];
const OUTPUT_TOKEN_STEPS: readonly Step[] = [
  { atLeast: 1_000_000, severity: "high" },
  { atLeast: 128_000, severity: "medium" },
  { atLeast: 64_000, severity: "low" },
  { atLeast: 32_000, severity: "info" },
];
const REQUESTS_PER_MINUTE_STEPS: readonly Step[] = [
  { atLeast: 10_000, severity: "critical" },
  { atLeast: 3_000, severity: "high" },
  { atLeast: 600, severity: "medium" },
  { atLeast: 120, severity: "low" },
];

/** The severity of the highest step `value` reaches (steps sorted highest first). */
function stepSeverity(value: number, steps: readonly Step[]): ConcernSeverity | undefined {
  return steps.find((step) => value >= step.atLeast)?.severity;
}

export const detectResourceAbuse: Detector = (subject) => {
  const signals: Signal[] = [];
  const cost = readNumber(subject.context, "estimatedCost");
  const remaining = readNumber(subject.context, "budgetRemaining");
  if (cost !== undefined && cost > 0) {
    const costSeverity = stepSeverity(cost, COST_UT_STEPS);
    if (costSeverity !== undefined) {
      signals.push({ severity: costSeverity, detail: `the call is estimated at ${Math.ceil(cost)} UT` });
    }
    if (remaining !== undefined) {
      const shareSeverity = remaining <= 0 ? "critical" : stepSeverity(cost / remaining, BUDGET_SHARE_STEPS);
      if (shareSeverity !== undefined) {
        signals.push({
          severity: shareSeverity,
          detail: `the call's estimate of ${Math.ceil(cost)} UT is ${budgetShare(cost, remaining)} of the ${Math.max(0, Math.floor(remaining))} UT left`,
        });
      }
    }
  }
  const maxOutputTokens = readNumber(subject.context, "maxOutputTokens");
  const outputSeverity =
    maxOutputTokens === undefined ? undefined : stepSeverity(maxOutputTokens, OUTPUT_TOKEN_STEPS);
  if (outputSeverity !== undefined) {
    signals.push({ severity: outputSeverity, detail: `the call allows ${maxOutputTokens} output tokens` });
  }
  const requests = readNumber(subject.context, "requestsLastMinute");
  const burstSeverity =
    requests === undefined ? undefined : stepSeverity(requests, REQUESTS_PER_MINUTE_STEPS);
  if (burstSeverity !== undefined) {
    signals.push({ severity: burstSeverity, detail: `${requests} requests in the last minute` });
  }
  return concernFrom("resource_abuse", signals);
};

function budgetShare(cost: number, remaining: number): string {
  return remaining <= 0 ? "more than all" : `${Math.round((cost / remaining) * 100)} %`;
}

// ─── policy_violation (Director Alpha) ─────────────────────────────────────────────────────────────
//
//   critical  injectionKinds is not empty (a prompt-injection pattern reached the board)
//   high      piiKinds names a secret or a financial / government identifier (ssn, credit card,
//             iban, passport, api key, password …)
//   medium    piiKinds names any other kind of personal data (email, phone, address …)
//   as rated  each policyWarnings entry that is a rule match ({ rule, severity }) carries its
//             rule's PolicySeverity through unchanged; a plain string warning counts as low

const SENSITIVE_PII_KIND =
  /ssn|social.?security|credit.?card|card.?number|iban|bank|account.?number|routing|passport|national.?id|licen[cs]e|tax.?id|api.?key|secret|token|password|private.?key|credential|medical|health/i;

export const detectPolicyViolation: Detector = (subject) => {
  const signals: Signal[] = [];
  const injectionKinds = readStrings(subject.context, "injectionKinds");
  if (injectionKinds.length > 0) {
    signals.push({ severity: "critical", detail: `prompt injection detected: ${listNames(injectionKinds)}` });
  }
  const piiKinds = readStrings(subject.context, "piiKinds");
  const sensitive = piiKinds.filter((kind) => SENSITIVE_PII_KIND.test(kind));
  if (sensitive.length > 0) {
    signals.push({
      severity: "high",
      detail: `sensitive personal data in the request: ${listNames(sensitive)}`,
    });
  } else if (piiKinds.length > 0) {
    signals.push({ severity: "medium", detail: `personal data in the request: ${listNames(piiKinds)}` });
  }
  signals.push(...policyWarningSignals(subject.context.policyWarnings));
  return concernFrom("policy_violation", signals);
};

function policyWarningSignals(warnings: unknown): Signal[] {
  if (!Array.isArray(warnings)) return [];
  const signals: Signal[] = [];
  for (const warning of warnings) {
    if (typeof warning === "string") {
      signals.push({ severity: "low", detail: `policy warning: ${warning}` });
    } else if (typeof warning === "object" && warning !== null) {
      const match = warning as Record<string, unknown>;
      const rule = readString(match, "rule") ?? readString(match, "name") ?? "unnamed rule";
      const severity = readString(match, "severity");
      signals.push({
        severity: isSeverity(severity) ? severity : "low",
        detail: `policy rule "${rule}" warned`,
      });
    }
  }
  return signals;
}
