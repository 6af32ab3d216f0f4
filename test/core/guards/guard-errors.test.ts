import { describe, expect, it } from "vitest";
import { UsertrustError } from "../../../src/core/errors.ts";
import { InjectionBlockedError, PiiBlockedError } from "../../../src/core/guards/guard-errors.ts";
import { scanPii } from "../../../src/core/guards/pii-detector.ts";

describe("PiiBlockedError", () => {
  const counts = scanPii(["mail jane@example.com or bob@example.com, card 4111 1111 1111 1111"]);
  const error = new PiiBlockedError(counts);

  it("is a UsertrustError with a stable code and the counts", () => {
    expect(error).toBeInstanceOf(UsertrustError);
    expect(error.name).toBe("PiiBlockedError");
    expect(error.code).toBe("PII_BLOCKED");
    expect(error.counts).toEqual({ email: 2, credit_card: 1 });
    expect(error.kinds.sort()).toEqual(["credit_card", "email"]);
  });

  it("names the kinds and counts and how to change the mode, never the values", () => {
    expect(error.message).toContain("2 email");
    expect(error.message).toContain("1 credit_card");
    expect(error.message).toMatch(/`pii`.*"redact".*"warn"/s);
    expect(error.message).not.toContain("example.com");
    expect(error.message).not.toContain("4111");
  });

  it("keeps its own copy of the counts", () => {
    const mutable = { email: 1 };
    const copy = new PiiBlockedError(mutable);
    mutable.email = 5;
    expect(copy.counts).toEqual({ email: 1 });
  });
});

describe("InjectionBlockedError", () => {
  it("is a UsertrustError with a stable code and each kind once", () => {
    const error = new InjectionBlockedError(["role_hijack", "instruction_override", "role_hijack"]);
    expect(error).toBeInstanceOf(UsertrustError);
    expect(error.code).toBe("INJECTION_BLOCKED");
    expect(error.kinds).toEqual(["role_hijack", "instruction_override"]);
    expect(error.message).toContain("role_hijack, instruction_override");
    expect(error.message).toMatch(/`injection`.*"warn".*"off"/s);
  });
});
