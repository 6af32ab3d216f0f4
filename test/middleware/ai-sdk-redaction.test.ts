import type { LanguageModelV4Usage } from "@ai-sdk/provider";
import { generateText, tool } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createEngine } from "../../src/core/create-engine.ts";
import { governModel } from "../../src/middleware/ai-sdk/index.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README "PII redaction works as with trust()" for the AI SDK, and "Only conversation text is
 * scanned and redacted (messages, system prompts, tool calls and results — every argument of a
 * tool call and every field of a tool result, whatever its key".
 */

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const EMAIL = "jane.doe@example.com";
const PHONE = "+44 20 7946 0958";

async function redactingEngine() {
  const vault = makeTempVault({ budget: 100_000, pii: { mode: "redact", restore: false } });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  return engine;
}

const usage: LanguageModelV4Usage = {
  inputTokens: { total: 100, noCache: 100, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 10, text: 10, reasoning: 0 },
};

function mockModel() {
  return new MockLanguageModelV4({
    provider: "openai.chat",
    modelId: "gpt-4o-mini",
    doGenerate: async () => ({
      content: [{ type: "text", text: "ok" }],
      finishReason: { unified: "stop", raw: "stop" },
      usage,
      warnings: [],
    }),
  });
}

describe("usertrust/ai-sdk, pii: redact — tool calls and tool results", () => {
  it("a JSON tool result whose fields sit under `data` reaches the model redacted", async () => {
    const engine = await redactingEngine();
    const model = mockModel();
    await generateText({
      model: governModel(model, engine),
      maxOutputTokens: 1_000,
      messages: [
        { role: "user", content: "Who is customer 7?" },
        {
          role: "assistant",
          content: [{ type: "tool-call", toolCallId: "c1", toolName: "get_customer", input: { id: 7 } }],
        },
        {
          role: "tool",
          content: [
            {
              type: "tool-result",
              toolCallId: "c1",
              toolName: "get_customer",
              output: { type: "json", value: { data: { email: EMAIL, phone: PHONE } } },
            },
          ],
        },
      ],
    });
    const sent = JSON.stringify(model.doGenerateCalls[0]?.prompt);
    expect(sent).toContain("[EMAIL_1]");
    expect(sent).not.toContain(EMAIL);
    expect(sent).not.toContain(PHONE);
  });

  it("a tool call whose arguments are named `name` / `url` reaches the model redacted", async () => {
    const engine = await redactingEngine();
    const model = mockModel();
    await generateText({
      model: governModel(model, engine),
      maxOutputTokens: 1_000,
      messages: [
        { role: "user", content: "Email the customer." },
        {
          role: "assistant",
          content: [
            {
              type: "tool-call",
              toolCallId: "c1",
              toolName: "send_mail",
              input: { name: EMAIL, url: `mailto:${EMAIL}` },
            },
          ],
        },
        {
          role: "tool",
          content: [
            {
              type: "tool-result",
              toolCallId: "c1",
              toolName: "send_mail",
              output: { type: "text", value: "sent" },
            },
          ],
        },
      ],
    });
    expect(JSON.stringify(model.doGenerateCalls[0]?.prompt)).not.toContain(EMAIL);
  });

  it("a tool's description is not scanned for PII: no placeholders, no redaction warning", async () => {
    const engine = await redactingEngine();
    const model = mockModel();
    const result = await generateText({
      model: governModel(model, engine),
      maxOutputTokens: 1_000,
      prompt: "File a ticket about the login page.",
      tools: {
        file_ticket: tool({
          description: `Files a ticket; escalations go to ${EMAIL}`,
          inputSchema: z.object({ title: z.string() }),
        }),
      },
    });
    expect(JSON.stringify(model.doGenerateCalls[0]?.tools)).toContain(EMAIL);
    const receipt = result.finalStep.providerMetadata?.usertrust as unknown as { warnings: string[] };
    expect(receipt.warnings.some((warning) => warning.includes("personal data"))).toBe(false);
  });
});
