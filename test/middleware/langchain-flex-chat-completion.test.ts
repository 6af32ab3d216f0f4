import { HumanMessage } from "@langchain/core/messages";
import { ChatOpenAI, type ChatOpenAIFields } from "@langchain/openai";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { governedChatModel, UsertrustCallbackHandler } from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tablePriceUsertokens } from "../support/price-table-oracle.ts";
import { chatCompletionBody } from "../support/provider-bodies.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// README (Pricing): a LangChain chat completion whose response_metadata has no service_tier (what
// @langchain/openai gives for a whole chat completion) is "charged at the tier the request asked
// for". Flex bills at half the standard rates; it is held at the standard rates, since OpenAI may
// serve the call at another tier.

const MODEL = "gpt-5";
const INPUT = 100_000;
const OUTPUT = 10_000;

const server = useFixedServer();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function completion() {
  return chatCompletionBody({ model: MODEL, tier: "flex", usage: { input: INPUT, output: OUTPUT } });
}

function chatOpenAI(fields: Partial<ChatOpenAIFields> = {}) {
  return new ChatOpenAI({
    model: MODEL,
    apiKey: "test",
    configuration: { baseURL: `${server.url}/v1` },
    maxRetries: 0,
    maxTokens: 20_000,
    ...fields,
  });
}

async function engineOnVault() {
  const vault = makeTempVault({ budget: 10_000_000 });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  return { vault, engine };
}

function spendOf(vault: { paths: { auditLog: string } }): { cost: number; held: number } {
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return { cost: spend?.data.costUsertokens as number, held: spend?.data.holdUsertokens as number };
}

const standard = () => tablePriceUsertokens("openai", MODEL, { input_tokens: INPUT, output_tokens: OUTPUT });
const prompt = () => [new HumanMessage("Summarize the report")];

describe("LangChain: a whole chat completion asked for flex is charged at the flex rate", () => {
  it("governedChatModel(ChatOpenAI({ service_tier: 'flex' })).invoke()", async () => {
    server.answer({ json: completion() });
    const { vault, engine } = await engineOnVault();
    await governedChatModel(chatOpenAI({ service_tier: "flex" }), engine).invoke(prompt());
    expect((server.bodies.at(-1) as { service_tier?: unknown }).service_tier).toBe("flex");
    expect(spendOf(vault).cost).toBe(Math.ceil(standard() / 2));
  });

  it("a per-call service_tier: 'flex' (invoke(messages, { service_tier }))", async () => {
    server.answer({ json: completion() });
    const { vault, engine } = await engineOnVault();
    await governedChatModel(chatOpenAI(), engine).invoke(prompt(), { service_tier: "flex" } as never);
    expect(spendOf(vault).cost).toBe(Math.ceil(standard() / 2));
  });

  it("UsertrustCallbackHandler on ChatOpenAI({ service_tier: 'flex' }).invoke()", async () => {
    server.answer({ json: completion() });
    const { vault, engine } = await engineOnVault();
    await chatOpenAI({ service_tier: "flex", callbacks: [new UsertrustCallbackHandler(engine)] }).invoke(
      prompt(),
    );
    expect(spendOf(vault).cost).toBe(Math.ceil(standard() / 2));
  });

  it("is held at the standard rates, as a request that names no tier is", async () => {
    server.answer({ json: completion() });
    const flex = await engineOnVault();
    await governedChatModel(chatOpenAI({ service_tier: "flex" }), flex.engine).invoke(prompt());
    const plain = await engineOnVault();
    await governedChatModel(chatOpenAI(), plain.engine).invoke(prompt());
    expect(spendOf(flex.vault).held).toBe(spendOf(plain.vault).held);
  });

  it("a reply that names the tier that served it is charged at that tier, not the one asked for", async () => {
    server.answer({
      json: {
        id: "resp_1",
        object: "response",
        created_at: 1,
        status: "completed",
        model: MODEL,
        service_tier: "default",
        output: [
          {
            type: "message",
            id: "msg_1",
            status: "completed",
            role: "assistant",
            content: [{ type: "output_text", text: "hello", annotations: [] }],
          },
        ],
        usage: {
          input_tokens: INPUT,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: OUTPUT,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: INPUT + OUTPUT,
        },
      },
    });
    const { vault, engine } = await engineOnVault();
    await governedChatModel(chatOpenAI({ service_tier: "flex", useResponsesApi: true }), engine).invoke(
      prompt(),
    );
    expect(spendOf(vault).cost).toBe(standard());
  });
});
