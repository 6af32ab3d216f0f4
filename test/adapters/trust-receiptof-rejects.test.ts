import { describe, expect, it } from "vitest";
import { receiptOf, receiptsOf } from "../../src/adapters/receipt-trail.ts";

/**
 * README "Results": receiptOf(value) "rejects … with UsertrustError (NO_RECEIPT) for a value no
 * governed call produced". A function documented to reject must not throw synchronously, or
 * `receiptOf(x).catch(handle)` and `Promise.allSettled(values.map(receiptOf))` blow up.
 */
describe("receiptOf / receiptsOf on a value no governed call produced", () => {
  it("receiptOf returns a promise that rejects with NO_RECEIPT (no synchronous throw)", async () => {
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = receiptOf({ not: "a governed response" });
    }).not.toThrow();
    await expect(result).rejects.toMatchObject({ code: "NO_RECEIPT" });
  });

  it("receiptsOf returns a promise that rejects with NO_RECEIPT (no synchronous throw)", async () => {
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = receiptsOf("a string");
    }).not.toThrow();
    await expect(result).rejects.toMatchObject({ code: "NO_RECEIPT" });
  });
});
