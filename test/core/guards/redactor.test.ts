import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findPii, type PiiKind } from "../../../src/core/guards/pii-detector.ts";
import { Redactor } from "../../../src/core/guards/redactor.ts";

// ── generators of valid values, each with the kind it must be reported as ───────────────────────

function luhnCheckDigit(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    let digit = Number(payload[payload.length - 1 - i]);
    if (i % 2 === 0) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return String((10 - (sum % 10)) % 10);
}

const digits = (length: number) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: length, maxLength: length }).map((d) => d.join(""));
const lowerAlnum = (minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789"), minLength, maxLength });

const email = fc
  .tuple(
    lowerAlnum(1, 10),
    fc.constantFrom("", ".", "+", "_"),
    lowerAlnum(1, 6),
    lowerAlnum(1, 10),
    fc.constantFrom("com", "de", "io", "co.uk"),
  )
  .map(([a, joiner, b, domain, tld]) => `${a}${joiner}${b}@${domain}.${tld}`);
const visa = digits(14)
  .map((middle) => `4${middle}`)
  .filter((payload) => !/^(\d)\1+$/.test(payload))
  .map((payload) => (payload + luhnCheckDigit(payload)).replace(/(\d{4})(?=\d)/g, "$1 "));
const iban = digits(18).map((bban) => {
  const check = 98n - (BigInt(`${bban}131400`) % 97n); // "DE00" as digits: D=13, E=14
  return `DE${check.toString().padStart(2, "0")}${bban}`;
});
const ssn = fc
  .tuple(fc.integer({ min: 1, max: 899 }), fc.integer({ min: 1, max: 99 }), fc.integer({ min: 1, max: 9999 }))
  .filter(([area]) => area !== 666)
  .map(
    ([area, group, serial]) =>
      `${String(area).padStart(3, "0")}-${String(group).padStart(2, "0")}-${String(serial).padStart(4, "0")}`,
  )
  .filter((value) => value !== "078-05-1120" && value !== "219-09-9999");
const phone = fc
  .tuple(fc.integer({ min: 1, max: 99 }), digits(3), digits(3), digits(4))
  .map(([country, a, b, c]) => `+${country} ${a} ${b} ${c}`);
const apiKey = lowerAlnum(30, 40).map((body) => `sk-proj-${body}7Q`);

const valueOfKind: ReadonlyArray<readonly [PiiKind, fc.Arbitrary<string>]> = [
  ["email", email],
  ["credit_card", visa],
  ["iban", iban],
  ["us_ssn", ssn],
  ["phone", phone],
  ["ipv4", fc.ipV4()],
  ["api_key", apiKey],
];
const piiValue = fc.oneof(
  ...valueOfKind.map(([kind, arbitrary]) => arbitrary.map((value) => ({ kind, value }))),
);

/** Words that can never form or extend a finding, so every injected value is found whole. */
const plainWords = fc.array(
  fc.constantFrom("please", "send", "it", "to", "the", "team", "and", "thanks", ",", "!"),
  {
    maxLength: 4,
  },
);

describe("Redactor.redact", () => {
  it("replaces each value with a typed placeholder and copies everything else unchanged", () => {
    const redactor = new Redactor();
    const text = "Mail jane@example.com or call +1 415 555 2671; card 4111 1111 1111 1111.";
    expect(redactor.redact(text)).toBe("Mail [EMAIL_1] or call [PHONE_1]; card [CREDIT_CARD_1].");
  });

  it("returns text without findings as it is", () => {
    const text = "Nothing to see here, just 42 apples.";
    expect(new Redactor().redact(text)).toBe(text);
  });

  it("gives a value the same placeholder in every text of the call, and new values new numbers", () => {
    const redactor = new Redactor();
    expect(redactor.redact("from jane@example.com")).toBe("from [EMAIL_1]");
    expect(redactor.redact("to bob@example.com, cc jane@example.com")).toBe("to [EMAIL_2], cc [EMAIL_1]");
    expect(redactor.redact("ip 10.0.0.1")).toBe("ip [IPV4_1]");
  });

  it("counts distinct values per kind and nothing else", () => {
    const redactor = new Redactor();
    redactor.redact("jane@example.com, bob@example.com, jane@example.com");
    redactor.redact("card 4111 1111 1111 1111");
    const counts = redactor.counts();
    expect(counts).toEqual({ email: 2, credit_card: 1 });
    expect(JSON.stringify(counts)).not.toContain("example");
  });

  it("never issues a placeholder that already appears literally in the text", () => {
    const redactor = new Redactor();
    const redacted = redactor.redact("Template [EMAIL_1] [EMAIL_2]; real: jane@example.com");
    expect(redacted).toBe("Template [EMAIL_1] [EMAIL_2]; real: [EMAIL_3]");
    expect(redactor.restore("[EMAIL_1] wrote to [EMAIL_3]")).toBe("[EMAIL_1] wrote to jane@example.com");
  });

  it("avoids literals in later texts when every text is reserved first", () => {
    const texts = ["write to jane@example.com", "the form field is called [EMAIL_1]"];
    const redactor = new Redactor();
    for (const text of texts) redactor.reserve(text);
    const redacted = texts.map((text) => redactor.redact(text));
    expect(redacted).toEqual(["write to [EMAIL_2]", "the form field is called [EMAIL_1]"]);
  });

  it("leaves the caller's texts untouched", () => {
    const texts = Object.freeze(["jane@example.com", "4111 1111 1111 1111"]);
    const redactor = new Redactor();
    const redacted = texts.map((text) => redactor.redact(text));
    expect(texts).toEqual(["jane@example.com", "4111 1111 1111 1111"]);
    expect(redacted).toEqual(["[EMAIL_1]", "[CREDIT_CARD_1]"]);
  });

  it("keeps every character outside the findings in place", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 10 }),
            piiValue.map((pii) => ` ${pii.value} `),
          ),
        ),
        (parts) => {
          const text = parts.join("").replaceAll("[", "(");
          const redactor = new Redactor();
          const findings = findPii(text);
          const outside = findings.reduceRight(
            (rest, f) => `${rest.slice(0, f.start)}\u0000${rest.slice(f.end)}`,
            text,
          );
          const redactedOutside = redactor.redact(text).replace(/\[[A-Z0-9_]+_\d+\]/g, "\u0000");
          expect(redactedOutside).toBe(outside);
        },
      ),
    );
  });
});

describe("Redactor.restore", () => {
  it("puts every value back after a round trip, whatever surrounds it", () => {
    const filler = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.string({ unit: "grapheme", maxLength: 6 }),
      fc.constantFrom("[EMAIL_1]", "[PHONE_2]", "[", "]", "_1]", " "),
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.array(
            fc.oneof(
              filler,
              piiValue.map((pii) => pii.value),
            ),
            { maxLength: 8 },
          ),
          { maxLength: 4 },
        ),
        (textsParts) => {
          const texts = textsParts.map((parts) => parts.join(""));
          const redactor = new Redactor();
          for (const text of texts) redactor.reserve(text);
          const redacted = texts.map((text) => redactor.redact(text));
          expect(redacted.map((text) => redactor.restore(text))).toEqual(texts);
        },
      ),
    );
  });

  it("finds every injected value, so none survives redaction, and counts each distinct value once", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(plainWords, piiValue), { minLength: 1, maxLength: 6 }), (pieces) => {
        const text = pieces.map(([words, pii]) => `${words.join(" ")} ${pii.value} `).join("");
        const redactor = new Redactor();
        const redacted = redactor.redact(text);
        for (const [, pii] of pieces) expect(redacted).not.toContain(pii.value);
        const expected: Partial<Record<PiiKind, number>> = {};
        for (const [kind] of valueOfKind) {
          const distinct = new Set(pieces.filter(([, pii]) => pii.kind === kind).map(([, pii]) => pii.value));
          if (distinct.size > 0) expected[kind] = distinct.size;
        }
        expect(redactor.counts()).toEqual(expected);
      }),
    );
  });

  it("leaves placeholders it did not issue alone", () => {
    const redactor = new Redactor();
    redactor.redact("jane@example.com");
    expect(redactor.restore("[EMAIL_1] [EMAIL_2] [NAME_1] [email_1]")).toBe(
      "jane@example.com [EMAIL_2] [NAME_1] [email_1]",
    );
  });
});

describe("Redactor.restoreStream", () => {
  function redactorWithValues(): Redactor {
    const redactor = new Redactor();
    redactor.redact(
      "jane@example.com, bob@example.com, 4111 1111 1111 1111, 536-22-1234, DE89370400440532013000",
    );
    expect(redactor.counts()).toEqual({ email: 2, credit_card: 1, us_ssn: 1, iban: 1 });
    return redactor;
  }

  it("holds back a placeholder split across deltas until it is complete", () => {
    const restore = redactorWithValues().restoreStream();
    expect(restore("Hi [EMA")).toBe("Hi ");
    expect(restore("IL_1] and [CREDIT_CA")).toBe("jane@example.com and ");
    expect(restore("RD_1]!")).toBe("4111 1111 1111 1111!");
    expect(restore.flush()).toBe("");
  });

  it("passes through a bracket that cannot start a placeholder at once", () => {
    const restore = redactorWithValues().restoreStream();
    expect(restore("see [note 1")).toBe("see [note 1");
    expect(restore("list [")).toBe("list ");
    expect(restore("a, b]")).toBe("[a, b]");
  });

  it("emits a held-back tail on flush", () => {
    const restore = redactorWithValues().restoreStream();
    expect(restore("ends with [EMAIL_")).toBe("ends with ");
    expect(restore.flush()).toBe("[EMAIL_");
  });

  it("equals restoring the whole answer, for any split into deltas", () => {
    const redactor = redactorWithValues();
    const token = fc.oneof(
      fc.constantFrom("[EMAIL_1]", "[EMAIL_2]", "[CREDIT_CARD_1]", "[US_SSN_1]", "[IBAN_1]"),
      fc.constantFrom("[EMAIL_3]", "[EMAIL_10]", "[PHONE_1]", "[EMAIL_01]", "[API_KEY_1]"),
      fc.constantFrom(
        "[",
        "]",
        "[EMAIL",
        "_1",
        "1]",
        "[[",
        "]]",
        "[CREDIT_",
        "CARD_1]",
        "[US_",
        "SSN_1]",
        "_",
      ),
      fc.string({ maxLength: 8 }),
    );
    const answerAndCuts = fc
      .array(token, { maxLength: 30 })
      .map((tokens) => tokens.join(""))
      .chain((answer) =>
        fc.tuple(
          fc.constant(answer),
          fc.uniqueArray(fc.integer({ min: 0, max: answer.length }), { maxLength: 12 }),
        ),
      );
    fc.assert(
      fc.property(answerAndCuts, ([answer, cuts]) => {
        const bounds = [0, ...cuts.sort((a, b) => a - b), answer.length];
        const restore = redactor.restoreStream();
        let streamed = "";
        for (let i = 1; i < bounds.length; i++) streamed += restore(answer.slice(bounds[i - 1], bounds[i]));
        streamed += restore.flush();
        expect(streamed).toBe(redactor.restore(answer));
      }),
      { numRuns: 500 },
    );
  });
});
