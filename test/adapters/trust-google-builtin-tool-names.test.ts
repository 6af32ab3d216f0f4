import { writeFileSync } from "node:fs";
import { GoogleGenAI } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PolicyDeniedError, trust } from "../../src/index.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README "Policies": `tools` is "the tool names offered to the model". Gemini's built-in tools have
 * neither a name nor a type: they are keyed by what they are (`{ googleSearch: {} }`,
 * `{ codeExecution: {} }`, `{ urlContext: {} }`), and are named by that key, so a rule meant to keep
 * an agent off the web sees them.
 */
describe("Gemini built-in tools in the policy's `tools` field", () => {
  let google: GoogleStandIn;
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    google = await startGoogleStandIn();
  });
  afterAll(() => google.close());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("a hard deny on `tool_count gt 0` refuses a call that offers googleSearch", async () => {
    const vault = makeTempVault({ budget: 1_000_000 });
    cleanups.push(vault.cleanup);
    writeFileSync(
      vault.paths.defaultPolicy,
      `- name: no-tools-in-this-agent
  effect: deny
  enforcement: hard
  conditions:
    - { field: tool_count, operator: gt, value: 0 }
`,
    );
    const genai = new GoogleGenAI({ apiKey: "t", httpOptions: { baseUrl: google.url } });
    const client = await trust(genai, { vaultBase: vault.base, shape: "native" });
    cleanups.push(() => client.destroy());
    const outcome = await client.models
      .generateContent({
        model: "gemini-2.5-flash",
        contents: "What is the news today?",
        config: { tools: [{ googleSearch: {} }], maxOutputTokens: 20 },
      })
      .catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(PolicyDeniedError);
  });

  it("a hard deny on `tools contains googleSearch` refuses a call that offers it next to a function", async () => {
    const vault = makeTempVault({ budget: 1_000_000 });
    cleanups.push(vault.cleanup);
    writeFileSync(
      vault.paths.defaultPolicy,
      `- name: no-web
  effect: deny
  enforcement: hard
  conditions:
    - { field: tools, operator: contains, value: googleSearch }
`,
    );
    const genai = new GoogleGenAI({ apiKey: "t", httpOptions: { baseUrl: google.url } });
    const client = await trust(genai, { vaultBase: vault.base, shape: "native" });
    cleanups.push(() => client.destroy());
    const outcome = await client.models
      .generateContent({
        model: "gemini-2.5-flash",
        contents: "What is the news today?",
        config: {
          tools: [{ functionDeclarations: [{ name: "lookup" }], googleSearch: {} }],
          maxOutputTokens: 20,
        },
      })
      .catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(PolicyDeniedError);
  });
});
