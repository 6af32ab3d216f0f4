import { findPii, type PiiCounts, type PiiKind } from "./pii-detector.ts";

/**
 * Replaces personal data in the texts of one model call with typed placeholders (`[EMAIL_1]`,
 * `[CREDIT_CARD_2]`) and puts the values back into the model's answer. One Redactor per call: it
 * holds the only copy of the values, and they die with it.
 *
 * - The same value gets the same placeholder in every text of the call, so the model can still tell
 *   that two mentions are the same person or card; different values get different numbers.
 * - Text between findings is copied unchanged.
 * - A placeholder never equals one that already appears literally in a text this Redactor has seen;
 *   numbers that are taken are skipped. When a later text might contain such a literal, pass every
 *   text to `reserve` before redacting any of them.
 * - Values are keyed by their exact spelling: `4111 1111 1111 1111` and `4111111111111111` are two
 *   values.
 */
export class Redactor {
  readonly #placeholderByValue = new Map<string, string>();
  readonly #valueByPlaceholder = new Map<string, string>();
  readonly #reserved = new Set<string>();
  readonly #lastNumberByKind = new Map<PiiKind, number>();
  readonly #countsByKind: PiiCounts = {};

  /** Marks placeholders that appear literally in `text` as taken, so redaction never reuses them. */
  reserve(text: string): void {
    if (!text.includes("[")) return;
    PLACEHOLDER.lastIndex = 0;
    for (let match = PLACEHOLDER.exec(text); match !== null; match = PLACEHOLDER.exec(text)) {
      if (!this.#valueByPlaceholder.has(match[0])) this.#reserved.add(match[0]);
    }
  }

  /** `text` with every finding replaced by its placeholder; `text` itself when there is none. */
  redact(text: string): string {
    this.reserve(text);
    const findings = findPii(text);
    if (findings.length === 0) return text;
    let redacted = "";
    let copied = 0;
    for (const finding of findings) {
      redacted +=
        text.slice(copied, finding.start) +
        this.#placeholderFor(finding.kind, text.slice(finding.start, finding.end));
      copied = finding.end;
    }
    return redacted + text.slice(copied);
  }

  /** Distinct values redacted so far, per kind: what the audit log records. Never the values. */
  counts(): PiiCounts {
    return { ...this.#countsByKind };
  }

  /**
   * `text` with every placeholder this Redactor issued replaced by its original value. With
   * `within: "json-string"`, `text` is JSON source (a tool call's arguments, whole or a streamed
   * piece), where a placeholder stands inside a string literal, so its value goes in escaped: a
   * restored key with newlines keeps the arguments parseable.
   */
  restore(text: string, within: "text" | "json-string" = "text"): string {
    if (this.#valueByPlaceholder.size === 0 || !text.includes("[")) return text;
    return text.replace(PLACEHOLDER, (placeholder) => {
      const value = this.#valueByPlaceholder.get(placeholder);
      if (value === undefined) return placeholder;
      return within === "json-string" ? JSON.stringify(value).slice(1, -1) : value;
    });
  }

  /**
   * A restorer for a streamed answer, where a placeholder may arrive split across deltas
   * (`"[EMA"`, `"IL_1] wrote"`). Each call returns the restored text that is safe to emit; a tail
   * that could still become a placeholder is held back until the next delta or `flush()`.
   * Concatenating every output and the flush equals `restore` of the whole answer.
   */
  restoreStream(): StreamRestorer {
    let pending = "";
    const push = (delta: string): string => {
      const text = pending + delta;
      const held = this.#valueByPlaceholder.size === 0 ? text.length : heldBackFrom(text);
      pending = text.slice(held);
      return this.restore(text.slice(0, held));
    };
    const flush = (): string => {
      const rest = pending;
      pending = "";
      return this.restore(rest);
    };
    return Object.assign(push, { flush });
  }

  #placeholderFor(kind: PiiKind, value: string): string {
    const key = `${kind}\u0000${value}`;
    const existing = this.#placeholderByValue.get(key);
    if (existing !== undefined) return existing;
    let number = this.#lastNumberByKind.get(kind) ?? 0;
    let placeholder: string;
    do {
      number++;
      placeholder = `[${LABEL_BY_KIND[kind]}_${number}]`;
    } while (this.#reserved.has(placeholder));
    this.#lastNumberByKind.set(kind, number);
    this.#placeholderByValue.set(key, placeholder);
    this.#valueByPlaceholder.set(placeholder, value);
    this.#countsByKind[kind] = (this.#countsByKind[kind] ?? 0) + 1;
    return placeholder;
  }
}

/** Call with each delta of a streamed answer; call `flush()` once when the stream ends. */
export interface StreamRestorer {
  (delta: string): string;
  flush(): string;
}

const LABEL_BY_KIND: Readonly<Record<PiiKind, string>> = {
  email: "EMAIL",
  phone: "PHONE",
  credit_card: "CREDIT_CARD",
  iban: "IBAN",
  us_ssn: "US_SSN",
  ipv4: "IPV4",
  ipv6: "IPV6",
  api_key: "API_KEY",
  jwt: "JWT",
  private_key: "PRIVATE_KEY",
  secret: "SECRET",
};

/** Placeholder numbers stay below 10 digits; a call would need a billion distinct values to reach that. */
const LABELS = Object.values(LABEL_BY_KIND);
const PLACEHOLDER = new RegExp(`\\[(?:${LABELS.join("|")})_[1-9]\\d{0,8}\\]`, "g");
const OPENINGS = LABELS.map((label) => `[${label}_`);
const PARTIAL_NUMBER = /^[1-9]\d{0,8}$/;

/** Whether `tail` (starting with "[", without "]") is the start of some placeholder. */
function couldBecomePlaceholder(tail: string): boolean {
  return OPENINGS.some((opening) =>
    tail.length <= opening.length
      ? opening.startsWith(tail)
      : tail.startsWith(opening) && PARTIAL_NUMBER.test(tail.slice(opening.length)),
  );
}

/** Where the emit-now part of `text` ends: before a trailing "[" that may open a placeholder. */
function heldBackFrom(text: string): number {
  const open = text.lastIndexOf("[");
  if (open === -1 || text.indexOf("]", open) !== -1) return text.length;
  return couldBecomePlaceholder(text.slice(open)) ? open : text.length;
}
