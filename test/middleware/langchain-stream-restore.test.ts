import { ChatAnthropic } from "@langchain/anthropic";
import type { AIMessageChunk } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { governedChatModel } from "../../src/middleware/langchain/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README, `{ "mode": "redact", "restore": true }`: "placeholders in the answer are replaced by the
 * original values — in whole responses and in stream deltas (a placeholder split across chunks is
 * held back until it is complete)", and "values restored into a tool call's arguments (whole or
 * streamed) are escaped". A LangChain stream's chunks are pieces of one message: a placeholder
 * split across them is held back, and a tool call's `tool_call_chunks[].args` (from which concat()
 * rebuilds the aggregated tool calls) are restored as the JSON source they are.
 */

const EMAIL = "jane.doe@example.com";
const PRIVATE_KEY =
  "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";
let server: OpenAIStandIn;
let anthropic: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  [server, anthropic] = await Promise.all([startOpenAIStandIn(), startAnthropicStandIn()]);
});
afterAll(async () => {
  await Promise.all([server.close(), anthropic.close()]);
});
afterEach(async () => {
  server.setBehaviour({});
  anthropic.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function restoringEngine() {
  const vault = makeTempVault({ budget: 100_000, pii: { mode: "redact", restore: true } });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(vault.cleanup);
  cleanups.push(() => engine.close());
  return engine;
}

async function restoringModel() {
  const inner = new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "test",
    configuration: { baseURL: `${server.url}/v1` },
    maxRetries: 0,
    maxTokens: 1_000,
  });
  return governedChatModel(inner, await restoringEngine());
}

describe("governedChatModel.stream with pii redact + restore", () => {
  it("a placeholder split across two deltas reaches the consumer restored", async () => {
    const model = await restoringModel();
    server.setBehaviour({ replyChunks: ["I will write to [EMA", "IL_1] today."] });
    let text = "";
    for await (const chunk of await model.stream(`Please email ${EMAIL}`)) text += chunk.text;
    // The provider got the placeholder, and the streamed answer the value.
    expect(JSON.stringify(server.requests.at(-1)?.body)).not.toContain(EMAIL);
    expect(text).toBe(`I will write to ${EMAIL} today.`);
  });

  it("the tool call aggregated from a stream runs on the original value", async () => {
    const model = await restoringModel();
    server.setBehaviour({ toolCall: { name: "send_mail", arguments: '{"to":"[EMAIL_1]"}' } });
    const bound = model.bindTools([
      {
        type: "function",
        function: {
          name: "send_mail",
          parameters: { type: "object", properties: { to: { type: "string" } } },
        },
      },
    ]);
    let aggregate: AIMessageChunk | undefined;
    for await (const chunk of await bound.stream(`Please email ${EMAIL}`))
      aggregate = aggregate === undefined ? chunk : aggregate.concat(chunk);
    expect(aggregate?.tool_calls?.[0]?.args).toEqual({ to: EMAIL });
  });

  it("a reply cut off mid-placeholder ends with what was held back", async () => {
    const model = await restoringModel();
    server.setBehaviour({ replyChunks: ["Write to [EMA"] });
    let text = "";
    for await (const chunk of await model.stream(`Please email ${EMAIL}`)) text += chunk.text;
    expect(text).toBe("Write to [EMA");
  });

  it("the receipt is the settle of the text as the provider sent it", async () => {
    const model = await restoringModel();
    server.setBehaviour({ replyChunks: ["I will write to [EMA", "IL_1] today."], completionTokens: 6 });
    let aggregate: AIMessageChunk | undefined;
    for await (const chunk of await model.stream(`Please email ${EMAIL}`))
      aggregate = aggregate === undefined ? chunk : aggregate.concat(chunk);
    const receipt = aggregate?.response_metadata.usertrust as { usage: { outputTokens: number } };
    expect(receipt.usage.outputTokens).toBe(6);
  });

  it("over ChatAnthropic: a streamed tool input is restored as JSON, escaped", async () => {
    const engine = await restoringEngine();
    anthropic.setBehaviour({ toolUse: { name: "store_key", input: { key: "[PRIVATE_KEY_1]" } } });
    const inner = new ChatAnthropic({
      model: "claude-sonnet-4-6",
      apiKey: "test",
      anthropicApiUrl: anthropic.url,
      maxRetries: 0,
      maxTokens: 1_000,
    });
    const bound = governedChatModel(inner, engine).bindTools([
      {
        name: "store_key",
        description: "Stores a key.",
        schema: { type: "object", properties: { key: { type: "string" } } },
      },
    ]);
    let aggregate: AIMessageChunk | undefined;
    for await (const chunk of await bound.stream(`Store this key:\n${PRIVATE_KEY}`))
      aggregate = aggregate === undefined ? chunk : aggregate.concat(chunk);
    expect(aggregate?.tool_calls?.[0]?.args).toEqual({ key: PRIVATE_KEY });
    // The streamed input_json_delta block carries the same JSON, and it still parses.
    const blocks = aggregate?.content as Array<{ type: string; input?: string }>;
    const streamed = blocks.find((block) => block.type === "input_json_delta");
    expect(JSON.parse(streamed?.input ?? "")).toEqual({ key: PRIVATE_KEY });
  });

  it("invoke (whole response) restores, for comparison", async () => {
    const model = await restoringModel();
    server.setBehaviour({ reply: "I will write to [EMAIL_1] today." });
    const message = await model.invoke(`Please email ${EMAIL}`);
    expect(message.text).toBe(`I will write to ${EMAIL} today.`);
  });
});

describe("governedChatModel.invoke with pii redact + restore: a tool call's JSON arguments", () => {
  it("additional_kwargs.tool_calls[].function.arguments stays valid JSON when a multi-line value is restored", async () => {
    const model = await restoringModel();
    const key = PRIVATE_KEY;
    server.setBehaviour({ toolCall: { name: "store_key", arguments: '{"key":"[PRIVATE_KEY_1]"}' } });
    const bound = model.bindTools([
      {
        type: "function",
        function: {
          name: "store_key",
          parameters: { type: "object", properties: { key: { type: "string" } } },
        },
      },
    ]);
    const message = await bound.invoke(`Store this key:\n${key}`);
    // The parsed tool call is restored (values put back into an object), and the provider's JSON
    // copy gets the value escaped, so it still parses.
    expect(message.tool_calls?.[0]?.args).toEqual({ key });
    const calls = message.additional_kwargs.tool_calls as Array<{ function: { arguments: string } }>;
    const source = calls[0]?.function.arguments ?? "";
    expect(JSON.parse(source)).toEqual({ key });
  });
});
