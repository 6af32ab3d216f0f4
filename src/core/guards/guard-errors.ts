import { UsertrustError } from "../errors.ts";
import type { InjectionKind } from "./injection-detector.ts";
import type { PiiCounts, PiiKind } from "./pii-detector.ts";

/** `pii: "block"` and the prompt contains personal data or credentials; nothing was sent. */
export class PiiBlockedError extends UsertrustError {
  /** Distinct values found per kind. The values themselves are never kept. */
  readonly counts: Readonly<PiiCounts>;

  constructor(counts: PiiCounts) {
    const found = Object.entries(counts)
      .map(([kind, count]) => `${count} ${kind}`)
      .join(", ");
    super(
      "PII_BLOCKED",
      `The prompt contains personal data or credentials (${found}), and \`pii\` is "block", so nothing was sent. ` +
        'Remove those values, or set `pii` in usertrust.config.json to "redact" (send typed placeholders instead ' +
        'of the values) or "warn" (send as is and record the kinds in the audit log).',
    );
    this.counts = Object.freeze({ ...counts });
  }

  get kinds(): PiiKind[] {
    return Object.keys(this.counts) as PiiKind[];
  }
}

/** `injection: "block"` and the prompt looks like a prompt-injection attempt; nothing was sent. */
export class InjectionBlockedError extends UsertrustError {
  readonly kinds: readonly InjectionKind[];

  constructor(kinds: readonly InjectionKind[]) {
    const distinct = [...new Set(kinds)];
    super(
      "INJECTION_BLOCKED",
      `The prompt looks like a prompt-injection attempt (${distinct.join(", ")}), and \`injection\` is "block", ` +
        "so nothing was sent. If the text is legitimate, rephrase it, or set `injection` in usertrust.config.json " +
        'to "warn" (send it and record the finding in the audit log) or "off".',
    );
    this.kinds = Object.freeze(distinct);
  }
}
