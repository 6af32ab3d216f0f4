import { AIMessageChunk, HumanMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { governedChatModel, UsertrustCallbackHandler } from "../../src/middleware/langchain/index.ts";
import { lastNamed, StreamMeter } from "../../src/middleware/langchain/stream-meter.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tablePriceUsertokens } from "../support/price-table-oracle.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// @langchain/openai puts the chunk's `service_tier` and `model_name` into the generation info of
// the chunk that finishes a choice, so an `n: 2` stream names them twice, and LangChain's chunk
// concat joins strings: its aggregate reads "defaultdefault" and "gpt-4o-minigpt-4o-mini". A stream
// is priced at the tier and model the provider last named, as trust()'s ChatStreamMeter does.

const MODEL = "gpt-4o-mini";
const INPUT = 100_000;
const OUTPUT = 10_000;

const server = useFixedServer();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function twoChoiceStream(tier: string) {
  const chunk = (fields: Record<string, unknown>) => ({
    data: {
      id: "chatcmpl_1",
      object: "chat.completion.chunk",
      created: 1,
      model: `${MODEL}-2024-07-18`,
      service_tier: tier,
      ...fields,
    },
  });
  return {
    sse: [
      chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "hello" }, finish_reason: null }] }),
      chunk({ choices: [{ index: 1, delta: { role: "assistant", content: "hi" }, finish_reason: null }] }),
      chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
      chunk({ choices: [{ index: 1, delta: {}, finish_reason: "stop" }] }),
      chunk({
        choices: [],
        usage: { prompt_tokens: INPUT, completion_tokens: OUTPUT, total_tokens: INPUT + OUTPUT },
      }),
    ],
    done: true,
  };
}

function chatOpenAI(callbacks?: UsertrustCallbackHandler[]) {
  return new ChatOpenAI({
    model: MODEL,
    apiKey: "test",
    configuration: { baseURL: `${server.url}/v1` },
    maxRetries: 0,
    maxTokens: 20_000,
    n: 2,
    ...(callbacks === undefined ? {} : { callbacks }),
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

function costOf(vault: { paths: { auditLog: string } }): number {
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return spend?.data.costUsertokens as number;
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // read to the end
  }
}

const standard = () => tablePriceUsertokens("openai", MODEL, { input_tokens: INPUT, output_tokens: OUTPUT });

/** Through the governed model, and through the handler on the plain model. */
const surfaces = {
  governedChatModel: async (engine: Awaited<ReturnType<typeof engineOnVault>>["engine"]) =>
    drain(await governedChatModel(chatOpenAI(), engine).stream([new HumanMessage("Summarize the report")])),
  UsertrustCallbackHandler: async (engine: Awaited<ReturnType<typeof engineOnVault>>["engine"]) =>
    drain(
      await chatOpenAI([new UsertrustCallbackHandler(engine)]).stream([
        new HumanMessage("Summarize the report"),
      ]),
    ),
};

describe.each(Object.entries(surfaces))("LangChain %s: an n = 2 chat stream", (_name, streamOn) => {
  it("served at the default tier is charged at standard, not as an unknown tier", async () => {
    server.answer(twoChoiceStream("default"));
    const { vault, engine } = await engineOnVault();
    await streamOn(engine);
    expect(costOf(vault)).toBe(standard());
  });

  it("served at priority is charged at the model's priority multiple (gpt-4o-mini 1.67×), not 2.5×", async () => {
    server.answer(twoChoiceStream("priority"));
    const { vault, engine } = await engineOnVault();
    await streamOn(engine);
    expect(costOf(vault)).toBeGreaterThanOrEqual(Math.floor(standard() * 1.67));
    expect(costOf(vault)).toBeLessThanOrEqual(Math.ceil(standard() * 1.67));
  });
});

describe("lastNamed: the tier and model of LangChain's joined stream message", () => {
  const joined = () =>
    new AIMessageChunk({
      content: "hellohi",
      response_metadata: {
        model_provider: "openai",
        service_tier: "defaultdefault",
        model_name: "gpt-4o-minigpt-4o-mini",
      },
    });

  it("takes the generation info's names when the handler metered no chunks (LangChain spreads it, last wins)", () => {
    const named = lastNamed(joined(), { service_tier: "default", model_name: "gpt-4o-mini" }, undefined);
    expect(named?.response_metadata).toMatchObject({ service_tier: "default", model_name: "gpt-4o-mini" });
  });

  it("takes the names the metered chunks last gave over the generation info's", () => {
    const meter = new StreamMeter();
    meter.observe(new AIMessageChunk({ content: "", response_metadata: { service_tier: "flex" } }));
    meter.observe(new AIMessageChunk({ content: "" }), { service_tier: "priority", model_name: "gpt-4o" });
    const named = lastNamed(joined(), { service_tier: "default" }, meter);
    expect(named?.response_metadata).toMatchObject({ service_tier: "priority", model_name: "gpt-4o" });
  });

  it("leaves a message nothing renames as it is", () => {
    const message = joined();
    expect(lastNamed(message, { finish_reason: "stop" }, new StreamMeter())).toBe(message);
  });
});
