import { describe, expect, it } from "vitest";
import { findPii } from "../../../src/core/guards/pii-detector.ts";
import { Redactor } from "../../../src/core/guards/redactor.ts";

function found(text: string): string[] {
  return findPii(text).map((finding) => `${finding.kind}: ${text.slice(finding.start, finding.end)}`);
}

describe("email: the whole local part", () => {
  it("takes an apostrophe in the local part (o'brien@…, valid per RFC 5322) into the address", () => {
    expect(found("Write to sean.o'brien@example.ie today")).toEqual(["email: sean.o'brien@example.ie"]);
    // What the provider receives in redact mode: the person's first name and initial stay hidden.
    expect(new Redactor().redact("Write to sean.o'brien@example.ie today")).toBe("Write to [EMAIL_1] today");
  });

  it("leaves quotes and brackets around an address out of it", () => {
    expect(found("['a@example.com','b@example.org'] and {c@example.net} |d@example.io|")).toEqual([
      "email: a@example.com",
      "email: b@example.org",
      "email: c@example.net",
      "email: d@example.io",
    ]);
  });

  it("does not take a URL path or a query string into the local part", () => {
    expect(found("https://example.com/u?email=jane@example.com")).toEqual(["email: jane@example.com"]);
    expect(found("see /users/jane@example.com")).toEqual(["email: jane@example.com"]);
  });
});
