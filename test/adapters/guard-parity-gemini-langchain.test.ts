import { GoogleGenAI } from "@google/genai";
import { AIMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { ChatOpenAI } from "@langchain/openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { trust } from "../../src/adapters/trust.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { PiiBlockedError } from "../../src/core/guards/guard-errors.ts";
import { governedChatModel } from "../../src/middleware/langchain/index.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// README "PII, secrets and prompt injection": on Gemini and LangChain too, block and redact read
// the text that is sent (tool-call arguments whatever their key), and tool definitions are the
// application's own text, not scanned for PII.

let google: GoogleStandIn;
let openai: OpenAIStandIn;
const cleanups: Array<() => unknown> = [];
beforeAll(async () => {
  [google, openai] = await Promise.all([startGoogleStandIn(), startOpenAIStandIn()]);
});
afterAll(async () => {
  await Promise.all([google.close(), openai.close()]);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const EMAIL = "jane.doe@example.com";

async function gemini(pii: "block" | "redact") {
  const vault = makeTempVault({
    budget: 100_000,
    pii: pii === "redact" ? { mode: "redact", restore: false } : pii,
  });
  cleanups.push(vault.cleanup);
  const client = await trust(new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: google.url } }), {
    vaultBase: vault.base,
  });
  cleanups.push(() => client.destroy());
  return client;
}

async function langchainModel(pii: "block" | "redact") {
  const vault = makeTempVault({
    budget: 100_000,
    pii: pii === "redact" ? { mode: "redact", restore: false } : pii,
  });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  const chat = new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "test",
    configuration: { baseURL: `${openai.url}/v1` },
    maxRetries: 0,
    maxTokens: 1_000,
  });
  return governedChatModel(chat, engine);
}

const sendMailHistory = [
  new HumanMessage("Email the customer about the refund."),
  new AIMessage({
    content: "",
    tool_calls: [
      { id: "call_1", name: "send_mail", args: { to: EMAIL, body: "Refund done" }, type: "tool_call" },
    ],
  }),
  new ToolMessage({ tool_call_id: "call_1", content: "sent" }),
];

describe("Gemini", () => {
  const functionCallTurn = {
    model: "gemini-2.5-flash",
    contents: [
      { role: "user", parts: [{ text: "Log me in" }] },
      {
        role: "model",
        parts: [{ functionCall: { name: "login", args: { user: "ops", password: "hunter2x9Q" } } }],
      },
      { role: "user", parts: [{ functionResponse: { name: "login", response: { ok: true } } }] },
    ],
  };

  it("block: a labelled secret in a functionCall's args is refused before sending", async () => {
    const client = await gemini("block");
    await expect(client.models.generateContent(functionCallTurn)).rejects.toBeInstanceOf(PiiBlockedError);
    expect(google.requests).toHaveLength(0);
  });

  it("block: an email in a tool's description is the application's text, not a refusal", async () => {
    const client = await gemini("block");
    const { receipt } = await client.models.generateContent({
      model: "gemini-2.5-flash",
      contents: "What is the weather?",
      config: {
        tools: [{ functionDeclarations: [{ name: "page_oncall", description: `Pages ${EMAIL}` }] }],
      },
    });
    expect(receipt.settled).toBe(true);
    expect(JSON.stringify(google.requests.at(-1)?.body)).toContain(EMAIL);
  });
});

describe("LangChain (governedChatModel)", () => {
  it("redact: tool call arguments in the history reach the provider redacted", async () => {
    const model = await langchainModel("redact");
    await model.invoke(sendMailHistory);
    const sent = JSON.stringify(openai.requests.at(-1)?.body);
    expect(sent).toContain("send_mail");
    expect(sent).not.toContain(EMAIL);
  });

  it("block: an email in a tool call's arguments is refused before sending", async () => {
    const model = await langchainModel("block");
    const before = openai.requests.length;
    await expect(model.invoke(sendMailHistory)).rejects.toBeInstanceOf(PiiBlockedError);
    expect(openai.requests.length).toBe(before);
  });

  it("block: an email in a bound tool's description is not a refusal", async () => {
    const model = await langchainModel("block");
    const pager = tool(async () => "paged", {
      name: "page_oncall",
      description: `Pages ${EMAIL}`,
      schema: z.object({ reason: z.string() }),
    });
    const reply = await model.bindTools([pager]).invoke("Is everything fine?");
    expect(reply.content).toBeDefined();
  });
});
