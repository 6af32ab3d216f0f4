import { describe, expect, it } from "vitest";
import { Redactor } from "../../../src/core/guards/redactor.ts";
import { redactCall } from "../../../src/core/surface/redaction.ts";

/*
 * Restore puts values back into the keys of tool data given as objects, in place and in order. A
 * key is left a placeholder when restoring it would overwrite another member, and an object whose
 * members cannot be defined again (frozen) is left as it is rather than failing the call.
 */

const EMAIL = "jane.doe@example.com";
const PHONE = "+44 20 7946 0958";

/** A restore function for a call whose prompt held EMAIL ([EMAIL_1]) and PHONE ([PHONE_1]). */
function restorer(): (response: unknown) => void {
  const call = redactCall(
    { messages: [{ role: "user", content: `Write to ${EMAIL} or call ${PHONE}.` }] },
    new Redactor(),
    true,
  );
  expect(JSON.stringify(call.sent)).not.toContain(EMAIL);
  if (call.restoreResponse === undefined) throw new Error("restore is on");
  return call.restoreResponse;
}

function toolUse(input: Record<string, unknown>) {
  return { content: [{ type: "tool_use", id: "tu_1", name: "set_roles", input }] };
}

describe("restoring placeholder keys of a tool call's input object", () => {
  it("restores several keys of one object, each in its place, and nested ones", () => {
    const response = toolUse({ a: 1, "[EMAIL_1]": { "[PHONE_1]": "mobile" }, b: 2, "[PHONE_1]": 3 });
    restorer()(response);
    const input = response.content[0]?.input as Record<string, unknown>;
    expect(Object.keys(input)).toEqual(["a", EMAIL, "b", PHONE]);
    expect(input[EMAIL]).toEqual({ [PHONE]: "mobile" });
  });

  it("leaves a frozen input as it is instead of throwing", () => {
    const input = Object.freeze({ "[EMAIL_1]": "admin" });
    const response = toolUse(input);
    expect(() => restorer()(response)).not.toThrow();
    expect(response.content[0]?.input).toEqual({ "[EMAIL_1]": "admin" });
  });

  it("keeps the placeholder of a key the object already has, whatever their order", () => {
    const response = toolUse({ [EMAIL]: "viewer", "[EMAIL_1]": "admin", "[PHONE_1]": "x" });
    restorer()(response);
    expect(response.content[0]?.input).toEqual({ [EMAIL]: "viewer", "[EMAIL_1]": "admin", [PHONE]: "x" });
  });
});
