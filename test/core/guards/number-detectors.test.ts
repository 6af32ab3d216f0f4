import { describe, expect, it } from "vitest";
import { findPii } from "../../../src/core/guards/pii-detector.ts";
import { Redactor } from "../../../src/core/guards/redactor.ts";

/** Each finding as "kind: covered text". */
function found(text: string): string[] {
  return findPii(text).map((finding) => `${finding.kind}: ${text.slice(finding.start, finding.end)}`);
}

describe("credit_card: numbers that only look like cards", () => {
  it("does not read the fraction digits of a float in a JSON tool result as a card", () => {
    // JSON.stringify of 229/997, a similarity score, a probability: JS prints 16–17 fraction digits.
    expect(found('{"score":0.2296890672016048}')).toEqual([]);
    expect(found('{"ratio":4.666666666666667}')).toEqual([]);
  });

  it("reports no card in any float k/997", () => {
    let flagged = 0;
    for (let k = 1; k < 997; k++) if (findPii(JSON.stringify({ score: k / 997 })).length > 0) flagged++;
    expect(flagged).toBe(0);
  });

  it("keeps a float a number in redact mode: no placeholder after the decimal point", () => {
    const sent = new Redactor().redact('{"score":0.2296890672016048,"label":"relevant"}');
    expect(() => JSON.parse(sent)).not.toThrow();
  });

  it("does not read the decimal groups of a UUID as a card", () => {
    expect(found("order 36419984-5845-4752-a1b2-c3d4e5f6a7b8 shipped")).toEqual([]);
  });

  it("still finds a dash-grouped card next to letters that are no UUID", () => {
    expect(found("4111-1111-1111-1111-AbCd")).toEqual(["credit_card: 4111-1111-1111-1111"]);
  });
});

describe("credit_card / us_ssn next to the number that usually follows them", () => {
  it("finds a card followed by its expiry date", () => {
    expect(found("Card: 4111 1111 1111 1111 12/26, CVV 123")).toEqual(["credit_card: 4111 1111 1111 1111"]);
  });

  it("finds a card followed by its CVV", () => {
    expect(found("card 5555 5555 5555 4444 123")).toEqual(["credit_card: 5555 5555 5555 4444"]);
    expect(found("4111111111111111 123")).toEqual(["credit_card: 4111111111111111"]);
  });

  it("finds an SSN followed by a date of birth", () => {
    expect(found("SSN 123-45-6789 04/12/1985")).toEqual(["us_ssn: 123-45-6789"]);
  });

  it("still takes no SSN out of a longer run of digit groups", () => {
    expect(found("ref 123 45 6789 1234")).toEqual([]);
    expect(found("ref 123-45-6789-1234")).toEqual([]);
  });
});

describe("labels in quotes, as JSON keys and tool data carry them", () => {
  it("reads a bare phone number or SSN after a quoted label", () => {
    expect(found('{"phone": "4155552671"}')).toEqual(["phone: 4155552671"]);
    expect(found('phone: "4155552671"')).toEqual(["phone: 4155552671"]);
    expect(found('ssn: "536221234"')).toEqual(["us_ssn: 536221234"]);
  });

  it("reads a dotted version after a quoted label as a version, not an IPv4 address", () => {
    expect(found('version: "1.2.3.4"')).toEqual([]);
    expect(found('{"version": "1.2.3.4"}')).toEqual([]);
  });
});
