import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { governModel } from "../../src/middleware/ai-sdk/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tablePriceUsertokens } from "../support/price-table-oracle.ts";
import { chatCompletionBody } from "../support/provider-bodies.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// An AI SDK chat call is charged at the tier that served it: the response body's `service_tier`
// (doGenerate's `response.body`), or — a chat stream has no body — the served rate of the tier
// the request body sent. @ai-sdk/openai removes `service_tier` from a chat request when the model
// has no priority processing (gpt-5-nano, gpt-5-chat-latest, gpt-3.5-turbo…): it warns and sends
// the call at the standard tier, which OpenAI bills. Flex is billed at half the standard rates.

const server = useFixedServer();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const INPUT = 100_000;
const OUTPUT = 10_000;

function completion(model: string) {
  return chatCompletionBody({ model, tier: "default", usage: { input: INPUT, output: OUTPUT } });
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

function spendOf(vault: { paths: { auditLog: string } }) {
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return spend?.data as { costUsertokens: number; holdUsertokens: number };
}

describe("AI SDK chat: a service tier the SDK did not send is not charged", () => {
  it("gpt-5-nano asked for priority is sent and billed at standard, and charged at standard", async () => {
    const model = "gpt-5-nano";
    server.answer({ json: completion(model) });
    const { vault, engine } = await engineOnVault();
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
    const result = await generateText({
      model: governModel(openai.chat(model), engine),
      prompt: "Summarize the report",
      maxOutputTokens: 20_000,
      providerOptions: { openai: { serviceTier: "priority" } },
    });
    // The SDK itself says it dropped the tier, and the wire body proves it.
    expect(JSON.stringify(result.warnings)).toContain("priority processing");
    const sent = server.bodies.at(-1) as Record<string, unknown>;
    expect(sent.service_tier).toBeUndefined();

    const standard = tablePriceUsertokens("openai", model, { input_tokens: INPUT, output_tokens: OUTPUT });
    expect(spendOf(vault).costUsertokens).toBe(standard);
  });

  it("the same through streamText", async () => {
    const model = "gpt-5-nano";
    const chunk = (fields: Record<string, unknown>) => ({
      data: {
        id: "chatcmpl_1",
        object: "chat.completion.chunk",
        created: 1,
        model,
        service_tier: "default",
        ...fields,
      },
    });
    server.answer({
      sse: [
        chunk({
          choices: [{ index: 0, delta: { role: "assistant", content: "hello" }, finish_reason: null }],
        }),
        chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
        chunk({
          choices: [],
          usage: { prompt_tokens: INPUT, completion_tokens: OUTPUT, total_tokens: INPUT + OUTPUT },
        }),
      ],
      done: true,
    });
    const { vault, engine } = await engineOnVault();
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
    const result = streamText({
      model: governModel(openai.chat(model), engine),
      prompt: "Summarize the report",
      maxOutputTokens: 20_000,
      providerOptions: { openai: { serviceTier: "priority" } },
    });
    await result.consumeStream();
    const sent = server.bodies.at(-1) as Record<string, unknown>;
    expect(sent.service_tier).toBeUndefined();
    const standard = tablePriceUsertokens("openai", model, { input_tokens: INPUT, output_tokens: OUTPUT });
    expect(spendOf(vault).costUsertokens).toBe(standard);
  });
});

describe("AI SDK chat: a flex call is charged at the flex rate the request asked for", () => {
  // Flex is held at the standard rate (the response may not confirm the discount) and settled at
  // half of it when the call is served, or sent, at flex.
  it("gpt-5 with serviceTier: 'flex' is charged half the standard price", async () => {
    const model = "gpt-5";
    server.answer({ json: { ...completion(model), service_tier: "flex" } });
    const { vault, engine } = await engineOnVault();
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
    await generateText({
      model: governModel(openai.chat(model), engine),
      prompt: "Summarize the report",
      maxOutputTokens: 20_000,
      providerOptions: { openai: { serviceTier: "flex" } },
    });
    const sent = server.bodies.at(-1) as Record<string, unknown>;
    expect(sent.service_tier).toBe("flex");
    const standard = tablePriceUsertokens("openai", model, { input_tokens: INPUT, output_tokens: OUTPUT });
    expect(spendOf(vault).costUsertokens).toBe(Math.ceil(standard / 2));
  });
});

/** A chat stream for `model` whose chunks name `servedTier`, with INPUT / OUTPUT usage. */
function chatStream(model: string, servedTier: string) {
  const chunk = (fields: Record<string, unknown>) => ({
    data: {
      id: "chatcmpl_1",
      object: "chat.completion.chunk",
      created: 1,
      model,
      service_tier: servedTier,
      ...fields,
    },
  });
  return {
    sse: [
      chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "hello" }, finish_reason: null }] }),
      chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
      chunk({
        choices: [],
        usage: { prompt_tokens: INPUT, completion_tokens: OUTPUT, total_tokens: INPUT + OUTPUT },
      }),
    ],
    done: true,
  };
}

describe("AI SDK chat: the tier that served the call, or was sent", () => {
  it("a flex stream (no body to name its tier) is charged half the standard price, as sent", async () => {
    const model = "gpt-5";
    server.answer(chatStream(model, "flex"));
    const { vault, engine } = await engineOnVault();
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
    const result = streamText({
      model: governModel(openai.chat(model), engine),
      prompt: "Summarize the report",
      maxOutputTokens: 20_000,
      providerOptions: { openai: { serviceTier: "flex" } },
    });
    await result.consumeStream();
    expect((server.bodies.at(-1) as Record<string, unknown>).service_tier).toBe("flex");
    const standard = tablePriceUsertokens("openai", model, { input_tokens: INPUT, output_tokens: OUTPUT });
    expect(spendOf(vault).costUsertokens).toBe(Math.ceil(standard / 2));
  });

  it("priority served at priority is charged the model's multiple (2× for gpt-5), held at it too", async () => {
    const model = "gpt-5";
    server.answer({ json: { ...completion(model), service_tier: "priority" } });
    const { vault, engine } = await engineOnVault();
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
    await generateText({
      model: governModel(openai.chat(model), engine),
      prompt: "Summarize the report",
      maxOutputTokens: 20_000,
      providerOptions: { openai: { serviceTier: "priority" } },
    });
    const standard = tablePriceUsertokens("openai", model, { input_tokens: INPUT, output_tokens: OUTPUT });
    expect(spendOf(vault).costUsertokens).toBe(2 * standard);
  });

  it("priority that OpenAI served at the default tier (its response says so) is charged at standard", async () => {
    const model = "gpt-5";
    server.answer({ json: completion(model) });
    const { vault, engine } = await engineOnVault();
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
    await generateText({
      model: governModel(openai.chat(model), engine),
      prompt: "Summarize the report",
      maxOutputTokens: 20_000,
      providerOptions: { openai: { serviceTier: "priority" } },
    });
    expect((server.bodies.at(-1) as Record<string, unknown>).service_tier).toBe("priority");
    const standard = tablePriceUsertokens("openai", model, { input_tokens: INPUT, output_tokens: OUTPUT });
    expect(spendOf(vault).costUsertokens).toBe(standard);
  });
});
