import { HumanMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { initChatModel } from "langchain";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { governedChatModel } from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tablePriceUsertokens } from "../support/price-table-oracle.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// initChatModel (what createAgent builds from "openai:gpt-4o") gives a ConfigurableModel, whose
// own invocationParams() is BaseChatModel's {}: the real model is built, per call, from the fields
// kept in its `_defaultConfig`. The hold and the settle read the request fields there, as they
// read a ChatOpenAI's: a whole chat completion's metadata names no tier, so it is charged at the
// tier the request asked for, which only the config says.

const INPUT = 100_000;
const OUTPUT = 10_000;
const CAP = 20_000;

const server = useFixedServer();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function completion(tier: string) {
  return {
    id: "chatcmpl_1",
    object: "chat.completion",
    created: 1,
    model: "gpt-4o-2024-08-06",
    service_tier: tier,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: "hello", refusal: null },
        finish_reason: "stop",
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: INPUT, completion_tokens: OUTPUT, total_tokens: INPUT + OUTPUT },
  };
}

const connection = () => ({
  apiKey: "test",
  configuration: { baseURL: `${server.url}/v1` },
  maxRetries: 0,
  maxTokens: CAP,
});

/** One governed invoke on a fresh vault: what its spend event held and charged. */
async function governedInvoke(
  model: Parameters<typeof governedChatModel>[0],
  options?: Record<string, unknown>,
): Promise<{ cost: number; held: number }> {
  const vault = makeTempVault({ budget: 10_000_000 });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  await governedChatModel(model, engine).invoke([new HumanMessage("Summarize the report")], options as never);
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return { cost: spend?.data.costUsertokens as number, held: spend?.data.holdUsertokens as number };
}

const standard = () =>
  tablePriceUsertokens("openai", "gpt-4o", { input_tokens: INPUT, output_tokens: OUTPUT });

describe("LangChain initChatModel: the model's request fields are held and charged", () => {
  it("service_tier: 'priority' on a gpt-4o completion is charged at 1.7× standard", async () => {
    server.answer({ json: completion("priority") });
    const model = await initChatModel("gpt-4o", {
      modelProvider: "openai",
      ...connection(),
      service_tier: "priority",
    });
    const { cost } = await governedInvoke(model);
    expect((server.bodies.at(-1) as { service_tier?: unknown }).service_tier).toBe("priority");
    // Priority gpt-4o is $4.25 / $17 against $2.50 / $10: 1.7× (rounded up).
    expect(cost).toBeGreaterThanOrEqual(Math.floor(standard() * 1.7));
    expect(cost).toBeLessThanOrEqual(Math.ceil(standard() * 1.7));
  });

  it("is held as the ChatOpenAI it builds is held: at priority, and at its maxTokens", async () => {
    server.answer({ json: completion("priority") });
    const configured = await initChatModel("openai:gpt-4o", { ...connection(), service_tier: "priority" });
    const direct = new ChatOpenAI({ model: "gpt-4o", ...connection(), service_tier: "priority" });
    expect((await governedInvoke(configured)).held).toBe((await governedInvoke(direct)).held);
  });

  it("a per-call service_tier (invoke(messages, { service_tier })) is held and charged too", async () => {
    server.answer({ json: completion("priority") });
    const model = await initChatModel("openai:gpt-4o", connection());
    const plain = await governedInvoke(model);
    const priority = await governedInvoke(model, { service_tier: "priority" });
    expect(priority.held).toBeGreaterThanOrEqual(Math.floor(plain.held * 1.7));
    expect(priority.cost).toBeGreaterThanOrEqual(Math.floor(standard() * 1.7));
  });

  it("service_tier: 'flex' is held at standard and charged at half", async () => {
    server.answer({ json: completion("flex") });
    const flex = await governedInvoke(
      await initChatModel("openai:gpt-4o", { ...connection(), service_tier: "flex" }),
    );
    const plain = await governedInvoke(await initChatModel("openai:gpt-4o", connection()));
    expect(flex.held).toBe(plain.held);
    expect(flex.cost).toBe(Math.ceil(standard() / 2));
  });
});
