import { GoogleGenAI } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * pii: "redact" sends a copy of the request in which only what redaction changed is new: objects
 * that are not plain data (Gemini's `config.abortSignal`) stay the caller's own, so the SDK can
 * still listen to them.
 */

let server: GoogleStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  server = await startGoogleStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function redactingGemini() {
  const vault = makeTempVault({ budget: 100_000 });
  const genai = new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: server.url } });
  const trusted = await trust(genai, { vaultBase: vault.base, shape: "native", config: { pii: "redact" } });
  cleanups.push(async () => {
    await trusted.destroy();
    vault.cleanup();
  });
  return trusted;
}

describe("Gemini, pii: redact, with the caller's config.abortSignal", () => {
  it("generateContent still works (the AbortSignal is not turned into a plain object)", async () => {
    const gemini = await redactingGemini();
    const controller = new AbortController();
    const response = await gemini.models.generateContent({
      model: "gemini-2.5-flash",
      contents: "Write to jane.doe@example.com please",
      config: { abortSignal: controller.signal },
    });
    expect(response.text).toBe("Hello from the stand-in.");
  });

  it("generateContentStream still works", async () => {
    const gemini = await redactingGemini();
    const controller = new AbortController();
    const stream = await gemini.models.generateContentStream({
      model: "gemini-2.5-flash",
      contents: "Write to jane.doe@example.com please",
      config: { abortSignal: controller.signal },
    });
    let text = "";
    for await (const chunk of stream) text += chunk.text ?? "";
    expect(text).toBe("Hello from the stand-in.");
  });
});
