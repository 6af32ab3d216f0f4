import { createAnthropic } from "@ai-sdk/anthropic";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { ChatAnthropic } from "@langchain/anthropic";
import { generateText, jsonSchema, stepCountIs, tool } from "ai";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { governModel } from "../../src/middleware/ai-sdk/index.ts";
import { governedChatModel } from "../../src/middleware/langchain/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * pii { mode: "redact", restore: true }: a tool call the model writes as an object (Anthropic
 * `tool_use.input`, Gemini `functionCall.args`, LangChain `tool_calls[].args`) may use a
 * placeholder as a KEY (`{ roles: { "[EMAIL_1]": "admin" } }`). The caller gets the key restored,
 * in its place among the other keys, as OpenAI's JSON-string arguments already are. A restored key
 * that would collide with a key the object already has stays a placeholder, so no value is lost;
 * whole JSON-string arguments (OpenAI, the AI SDK's tool-call input) follow the same rule.
 */

const EMAIL = "jane.doe@example.com";
const PROMPT = `Make ${EMAIL} an admin.`;

let anthropic: AnthropicStandIn;
let google: GoogleStandIn;
let openai: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  [anthropic, google, openai] = await Promise.all([
    startAnthropicStandIn(),
    startGoogleStandIn(),
    startOpenAIStandIn(),
  ]);
});
afterAll(async () => {
  await Promise.all([anthropic.close(), google.close(), openai.close()]);
});
afterEach(async () => {
  anthropic.setBehaviour({});
  google.setBehaviour({});
  openai.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const RESTORE = { pii: { mode: "redact" as const, restore: true } };

async function restoringAnthropic() {
  const vault = makeTempVault({ budget: 1_000_000 });
  const sdk = new Anthropic({ apiKey: "t", baseURL: anthropic.url, maxRetries: 0 });
  const client = await trust(sdk, { vaultBase: vault.base, shape: "native", config: RESTORE });
  cleanups.push(vault.cleanup, () => client.destroy());
  return client;
}

async function restoringGemini() {
  const vault = makeTempVault({ budget: 1_000_000 });
  const genai = new GoogleGenAI({ apiKey: "t", httpOptions: { baseUrl: google.url } });
  const client = await trust(genai, { vaultBase: vault.base, shape: "native", config: RESTORE });
  cleanups.push(vault.cleanup, () => client.destroy());
  return client;
}

async function restoringOpenAI() {
  const vault = makeTempVault({ budget: 1_000_000 });
  const sdk = new OpenAI({ apiKey: "t", baseURL: `${openai.url}/v1`, maxRetries: 0 });
  const client = await trust(sdk, { vaultBase: vault.base, shape: "native", config: RESTORE });
  cleanups.push(vault.cleanup, () => client.destroy());
  return client;
}

async function restoringEngine() {
  const vault = makeTempVault({ budget: 1_000_000, pii: RESTORE.pii });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(vault.cleanup, () => engine.close());
  return engine;
}

async function restoringLangChain() {
  const engine = await restoringEngine();
  const inner = new ChatAnthropic({
    model: "claude-sonnet-4-6",
    apiKey: "t",
    anthropicApiUrl: anthropic.url,
    maxRetries: 0,
    maxTokens: 1_000,
  });
  return governedChatModel(inner, engine).bindTools([
    {
      name: "set_roles",
      description: "Sets the roles of users.",
      schema: { type: "object", properties: { roles: { type: "object" } } },
    },
  ]);
}

/** The model's tool input: a placeholder key between two others, so its place can be checked. */
const MODEL_INPUT = { team: "ops", roles: { first: "viewer", "[EMAIL_1]": "admin", last: "owner" } };
const RESTORED_INPUT = { team: "ops", roles: { first: "viewer", [EMAIL]: "admin", last: "owner" } };

/** The model names both the placeholder and the value itself as keys: restoring one would overwrite the other. */
const COLLIDING_INPUT = { roles: { "[EMAIL_1]": "admin", [EMAIL]: "viewer" } };

function rolesOf(input: unknown): Record<string, unknown> {
  return (input as { roles: Record<string, unknown> }).roles;
}

describe("Anthropic messages.create: a placeholder key in tool_use.input", () => {
  it("reaches the caller restored, in the same place among the keys; the provider saw only the placeholder", async () => {
    const client = await restoringAnthropic();
    anthropic.setBehaviour({ toolUse: { name: "set_roles", input: MODEL_INPUT } });
    const message = await client.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 100,
      messages: [{ role: "user", content: PROMPT }],
    });
    const block = message.content.find((part) => part.type === "tool_use");
    expect(block?.input).toEqual(RESTORED_INPUT);
    expect(Object.keys(rolesOf(block?.input))).toEqual(["first", EMAIL, "last"]);
    expect(JSON.stringify(anthropic.requests.at(-1)?.body)).not.toContain(EMAIL);
  });

  it("a key that would collide with one the object already has stays a placeholder, and both values are kept", async () => {
    const client = await restoringAnthropic();
    anthropic.setBehaviour({ toolUse: { name: "set_roles", input: COLLIDING_INPUT } });
    const message = await client.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 100,
      messages: [{ role: "user", content: PROMPT }],
    });
    const block = message.content.find((part) => part.type === "tool_use");
    expect(rolesOf(block?.input)).toEqual({ "[EMAIL_1]": "admin", [EMAIL]: "viewer" });
  });

  it("streamed (input_json_delta), the final message's tool input is restored too", async () => {
    const client = await restoringAnthropic();
    anthropic.setBehaviour({ toolUse: { name: "set_roles", input: MODEL_INPUT } });
    const stream = client.messages.stream({
      model: "claude-sonnet-4-5",
      max_tokens: 100,
      messages: [{ role: "user", content: PROMPT }],
    });
    const message = await stream.finalMessage();
    const block = message.content.find((part) => part.type === "tool_use");
    expect(block?.input).toEqual(RESTORED_INPUT);
  });
});

describe("Gemini: a placeholder key in functionCall.args", () => {
  it("generateContent: the caller's function call has the key restored, in place", async () => {
    const gemini = await restoringGemini();
    google.setBehaviour({ functionCall: { name: "set_roles", args: MODEL_INPUT } });
    const response = await gemini.models.generateContent({ model: "gemini-2.5-flash", contents: PROMPT });
    const args = response.functionCalls?.[0]?.args;
    expect(args).toEqual(RESTORED_INPUT);
    expect(Object.keys(rolesOf(args))).toEqual(["first", EMAIL, "last"]);
    expect(JSON.stringify(google.requests.at(-1)?.body)).not.toContain(EMAIL);
  });

  it("generateContentStream: the streamed function call has the key restored", async () => {
    const gemini = await restoringGemini();
    google.setBehaviour({ functionCall: { name: "set_roles", args: MODEL_INPUT } });
    const stream = await gemini.models.generateContentStream({ model: "gemini-2.5-flash", contents: PROMPT });
    const calls: unknown[] = [];
    for await (const chunk of stream) calls.push(...(chunk.functionCalls ?? []).map((call) => call.args));
    expect(calls).toEqual([RESTORED_INPUT]);
  });

  it("a key that would collide with one the object already has stays a placeholder", async () => {
    const gemini = await restoringGemini();
    google.setBehaviour({ functionCall: { name: "set_roles", args: COLLIDING_INPUT } });
    const response = await gemini.models.generateContent({ model: "gemini-2.5-flash", contents: PROMPT });
    expect(rolesOf(response.functionCalls?.[0]?.args)).toEqual({ "[EMAIL_1]": "admin", [EMAIL]: "viewer" });
  });
});

describe("LangChain over ChatAnthropic: a placeholder key in tool_calls[].args", () => {
  it("invoke: the message's tool call and its tool_use block have the key restored", async () => {
    const model = await restoringLangChain();
    anthropic.setBehaviour({ toolUse: { name: "set_roles", input: MODEL_INPUT } });
    const message = await model.invoke(PROMPT);
    expect(message.tool_calls?.[0]?.args).toEqual(RESTORED_INPUT);
    const blocks = message.content as Array<{ type: string; input?: unknown }>;
    expect(blocks.find((block) => block.type === "tool_use")?.input).toEqual(RESTORED_INPUT);
    expect(JSON.stringify(anthropic.requests.at(-1)?.body)).not.toContain(EMAIL);
  });
});

describe("LangChain over ChatAnthropic, streamed: a placeholder key in the tool call's args", () => {
  it("the aggregated stream's tool call has the key restored", async () => {
    const model = await restoringLangChain();
    anthropic.setBehaviour({ toolUse: { name: "set_roles", input: MODEL_INPUT } });
    let aggregate: Awaited<ReturnType<typeof model.invoke>> | undefined;
    for await (const chunk of await model.stream(PROMPT)) {
      aggregate = aggregate === undefined ? chunk : aggregate.concat(chunk);
    }
    expect(aggregate?.tool_calls?.[0]?.args).toEqual(RESTORED_INPUT);
  });
});

describe("AI SDK over @ai-sdk/anthropic: a placeholder key in a tool call's input", () => {
  // The provider package hands the middleware the input as JSON source, restored as OpenAI
  // `arguments` are; this checks that the tool still runs on the restored key.
  it("the tool runs on the input with the key restored", async () => {
    const engine = await restoringEngine();
    const anthropicProvider = createAnthropic({ baseURL: `${anthropic.url}/v1`, apiKey: "t" });
    anthropic.setBehaviour({ toolUse: { name: "set_roles", input: MODEL_INPUT } });
    const received: unknown[] = [];
    await generateText({
      model: governModel(anthropicProvider("claude-sonnet-4-6"), engine),
      prompt: PROMPT,
      maxOutputTokens: 1_000,
      stopWhen: stepCountIs(1),
      tools: {
        set_roles: tool({
          inputSchema: jsonSchema<Record<string, unknown>>({ type: "object" }),
          execute: async (input) => {
            received.push(input);
            return "done";
          },
        }),
      },
    });
    expect(received).toEqual([RESTORED_INPUT]);
    expect(Object.keys(rolesOf(received[0]))).toEqual(["first", EMAIL, "last"]);
  });
});

describe("OpenAI chat: a placeholder key in JSON-string arguments (whole response)", () => {
  async function argumentsFor(modelArguments: string): Promise<string> {
    const client = await restoringOpenAI();
    openai.setBehaviour({ toolCall: { name: "set_roles", arguments: modelArguments } });
    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: PROMPT }],
    });
    const call = completion.choices[0]?.message.tool_calls?.[0];
    return call?.type === "function" ? call.function.arguments : "";
  }

  it("is restored where it stands, the model's spacing kept", async () => {
    const args = await argumentsFor('{"team": "ops", "roles": {"[EMAIL_1]": "admin"}}');
    expect(args).toBe(`{"team": "ops", "roles": {"${EMAIL}": "admin"}}`);
  });

  it("a key that would collide stays a placeholder, as in object form: both values survive JSON.parse", async () => {
    const args = await argumentsFor(JSON.stringify(COLLIDING_INPUT));
    expect(rolesOf(JSON.parse(args))).toEqual({ "[EMAIL_1]": "admin", [EMAIL]: "viewer" });
  });
});

describe("AI SDK: a placeholder key that would collide in a tool call's input", () => {
  it("stays a placeholder, so the tool gets both members", async () => {
    const engine = await restoringEngine();
    const anthropicProvider = createAnthropic({ baseURL: `${anthropic.url}/v1`, apiKey: "t" });
    anthropic.setBehaviour({ toolUse: { name: "set_roles", input: COLLIDING_INPUT } });
    const received: unknown[] = [];
    await generateText({
      model: governModel(anthropicProvider("claude-sonnet-4-6"), engine),
      prompt: PROMPT,
      maxOutputTokens: 1_000,
      stopWhen: stepCountIs(1),
      tools: {
        set_roles: tool({
          inputSchema: jsonSchema<Record<string, unknown>>({ type: "object" }),
          execute: async (input) => {
            received.push(input);
            return "done";
          },
        }),
      },
    });
    expect(received.map(rolesOf)).toEqual([{ "[EMAIL_1]": "admin", [EMAIL]: "viewer" }]);
  });
});
