import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createEngine } from "../../src/core/create-engine.ts";
import { governModel } from "../../src/middleware/ai-sdk/index.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// pii { mode: "redact", restore: true }: the model only ever sees placeholders, so the tool calls
// it writes name them; the tool must run on the original values, as with trust().

let server: OpenAIStandIn;
const cleanups: Array<() => unknown> = [];
beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const EMAIL = "jane.doe@example.com";
// A PEM key has newlines: restored into JSON it must be escaped, or the input no longer parses.
const KEY =
  "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAq7BFUpkGp3\n-----END PRIVATE KEY-----";

async function restoringModel() {
  const vault = makeTempVault({ budget: 100_000, pii: { mode: "redact", restore: true } });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
  return governModel(openai.chat("gpt-4o-mini"), engine);
}

function sendMail(received: unknown[]) {
  return tool({
    inputSchema: z.object({ to: z.string(), attach: z.string() }),
    execute: async (input) => {
      received.push(input);
      return "sent";
    },
  });
}

const prompt = `Send the key ${KEY} to ${EMAIL}.`;

describe("AI SDK, pii redact with restore: tool calls the model writes with placeholders", () => {
  for (const mode of ["generateText", "streamText"] as const) {
    it(`${mode}: the tool runs on the original values, and the provider never saw them`, async () => {
      const model = await restoringModel();
      server.setBehaviour({
        toolCall: { name: "send_mail", arguments: '{"to":"[EMAIL_1]","attach":"[PRIVATE_KEY_1]"}' },
      });
      const received: unknown[] = [];
      const options = {
        model,
        prompt,
        maxOutputTokens: 1_000,
        stopWhen: stepCountIs(1),
        tools: { send_mail: sendMail(received) },
      };
      if (mode === "generateText") await generateText(options);
      else await streamText(options).consumeStream();
      expect(received).toEqual([{ to: EMAIL, attach: KEY }]);
      const sent = JSON.stringify(server.requests.at(-1)?.body);
      expect(sent).not.toContain(EMAIL);
      expect(sent).not.toContain("BEGIN PRIVATE KEY");
    });
  }
});
