import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { Redactor } from "../../src/core/guards/redactor.ts";
import { restoreTexts } from "../../src/core/surface/redaction.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// pii { mode: "redact", restore: true }: when restoring a placeholder key in JSON-string tool
// arguments would write a key its object already has, that key stays a placeholder. Only that
// key is left as it is: every other byte of the model's arguments is kept, values restored where
// they stand — an integer past 2^53 (an account id the model wrote as a number) included, which a
// JSON.parse / JSON.stringify round trip would change.

const EMAIL = "jane.doe@example.com";
const OTHER = "sam.roe@example.com";
const PROMPT = `Make ${EMAIL} an admin.`;
const ACCOUNT = "12345678901234567890";

let openai: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  openai = await startOpenAIStandIn();
});
afterAll(() => openai.close());
afterEach(async () => {
  openai.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("restore of a colliding placeholder key leaves the other members as the model wrote them", () => {
  it("a 20-digit account number in the same arguments is unchanged", async () => {
    const vault = makeTempVault({ budget: 1_000_000 });
    const sdk = new OpenAI({ apiKey: "t", baseURL: `${openai.url}/v1`, maxRetries: 0 });
    const client = await trust(sdk, {
      vaultBase: vault.base,
      shape: "native",
      config: { pii: { mode: "redact", restore: true } },
    });
    cleanups.push(vault.cleanup, () => client.destroy());
    const modelArguments = `{"account": ${ACCOUNT}, "roles": {"[EMAIL_1]": "admin", "${EMAIL}": "viewer"}}`;
    openai.setBehaviour({ toolCall: { name: "set_roles", arguments: modelArguments } });
    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: PROMPT }],
    });
    const call = completion.choices[0]?.message.tool_calls?.[0];
    const args = call?.type === "function" ? call.function.arguments : "";
    // The colliding key stays a placeholder (as documented) ...
    expect(args).toContain('"[EMAIL_1]"');
    // ... and the account id the model wrote is still there, digit for digit.
    expect(args).toContain(ACCOUNT);
  });
});

/** `source` as the caller gets it back, from a call whose prompt had EMAIL ([EMAIL_1]) and OTHER ([EMAIL_2]). */
function restoredArguments(source: string): string {
  const redactor = new Redactor();
  redactor.redact(`${EMAIL} and ${OTHER}`);
  const call = { arguments: source };
  restoreTexts(call, redactor);
  return call.arguments;
}

describe("restoring JSON-string arguments with a colliding key, byte for byte", () => {
  it("only the colliding key is left a placeholder; values, other keys and spacing are restored in place", () => {
    const source =
      '{\n  "note": "cc [EMAIL_2]",\n  "roles": {"[EMAIL_1]" : "admin",   "' +
      `${EMAIL}": "viewer", "[EMAIL_2]": 1.50e3},\n  "id": ${ACCOUNT}\n}`;
    expect(restoredArguments(source)).toBe(
      `{\n  "note": "cc ${OTHER}",\n  "roles": {"[EMAIL_1]" : "admin",   "` +
        `${EMAIL}": "viewer", "${OTHER}": 1.50e3},\n  "id": ${ACCOUNT}\n}`,
    );
  });

  it("a placeholder key stays only in the object where it would collide; in another object it is restored", () => {
    const source = `[{"[EMAIL_1]": 1, "${EMAIL}": 2}, {"[EMAIL_1]": 3}]`;
    expect(restoredArguments(source)).toBe(`[{"[EMAIL_1]": 1, "${EMAIL}": 2}, {"${EMAIL}": 3}]`);
  });

  it("braces, brackets, colons and escaped quotes inside strings do not confuse which keys are an object's", () => {
    const source = `{"text": "a \\"}{[\\": [EMAIL_1]", "[EMAIL_1]": {"${EMAIL}": true, "[EMAIL_1]": false}, "${EMAIL}": null}`;
    const restored = restoredArguments(source);
    // The outer object already has EMAIL, and so does the inner one: both placeholder keys stay.
    expect(restored).toBe(
      `{"text": "a \\"}{[\\": ${EMAIL}", "[EMAIL_1]": {"${EMAIL}": true, "[EMAIL_1]": false}, "${EMAIL}": null}`,
    );
    expect(JSON.parse(restored)).toEqual({
      text: `a "}{[": ${EMAIL}`,
      "[EMAIL_1]": { [EMAIL]: true, "[EMAIL_1]": false },
      [EMAIL]: null,
    });
  });
});
