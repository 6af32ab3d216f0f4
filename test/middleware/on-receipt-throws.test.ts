import { createOpenAI } from "@ai-sdk/openai";
import { ChatOpenAI } from "@langchain/openai";
import { generateText } from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { governModel } from "../../src/middleware/ai-sdk/index.ts";
import { governedChatModel } from "../../src/middleware/langchain/index.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README, TrustOpts table: "`onReceipt` | Called with the receipt of every governed call, settled
 * or released. A throwing callback becomes a process warning, never a failed call." The AI SDK
 * section: "`usertrustMiddleware(opts)` takes the `trust()` options (… `onReceipt` …)". The
 * LangChain surfaces take the same options.
 */

let server: OpenAIStandIn;
const cleanups: Array<() => void> = [];
const unhandled: unknown[] = [];
const warnings: string[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const onWarning = (warning: Error) => warnings.push(warning.message);

beforeAll(async () => {
  server = await startOpenAIStandIn();
  process.on("unhandledRejection", onUnhandled);
  process.on("warning", onWarning);
});
afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  process.off("warning", onWarning);
  await server.close();
});
afterEach(() => {
  unhandled.length = 0;
  warnings.length = 0;
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function vaultBase(): string {
  const vault = makeTempVault({ budget: 100_000 });
  cleanups.push(vault.cleanup);
  return vault.base;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe("README: a throwing onReceipt becomes a process warning, on every surface", () => {
  it("AI SDK governModel: a throwing onReceipt is a process warning, not an unhandled rejection", async () => {
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });
    const model = governModel(openai.chat("gpt-4o-mini"), {
      vaultBase: vaultBase(),
      onReceipt: () => {
        throw new Error("callback bug");
      },
    });
    const result = await generateText({ model, prompt: "Hello", maxRetries: 0 });
    expect(result.text).toBe("Hello from the stand-in.");
    await settle();
    expect(unhandled).toEqual([]);
    expect(warnings.some((message) => message.includes("onReceipt"))).toBe(true);
  });

  it("LangChain governedChatModel: a throwing onReceipt is a process warning, not an unhandled rejection", async () => {
    const chat = new ChatOpenAI({
      model: "gpt-4o-mini",
      apiKey: "test",
      configuration: { baseURL: `${server.url}/v1` },
      maxRetries: 0,
    });
    const model = governedChatModel(chat, {
      vaultBase: vaultBase(),
      onReceipt: () => {
        throw new Error("callback bug");
      },
    });
    const message = await model.invoke("Hello");
    expect(message.content).toBe("Hello from the stand-in.");
    await settle();
    expect(unhandled).toEqual([]);
    expect(warnings.some((text) => text.includes("onReceipt"))).toBe(true);
  });
});
