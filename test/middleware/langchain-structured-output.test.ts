import { ChatOpenAI } from "@langchain/openai";
import { createAgent } from "langchain";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { runTotal, usertrustAgentMiddleware } from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * Structured output through the LangChain surfaces. README: governedChatModel is "use it anywhere a
 * chat model goes"; usertrustAgentMiddleware's wrapModelCall "holds and settles each model call and
 * returns the AIMessage with response_metadata.usertrust".
 */

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function engineOn(): Promise<{ vault: ReturnType<typeof makeTempVault>; engine: Engine }> {
  const vault = makeTempVault({ budget: 100_000 });
  cleanups.push(vault.cleanup);
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(() => engine.close());
  return { vault, engine };
}

function chatOpenAI(): ChatOpenAI {
  return new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "test",
    configuration: { baseURL: `${server.url}/v1` },
    maxRetries: 0,
    maxTokens: 1_000_000,
  });
}

const schema = z.object({ name: z.string() });

describe("structured output through usertrust/langchain", () => {
  it("createAgent({ responseFormat }) with usertrustAgentMiddleware still yields structuredResponse", async () => {
    const { vault, engine } = await engineOn();
    server.setBehaviour({ reply: '{"name":"Ada"}', promptTokens: 1_000, completionTokens: 10 });

    // Without the middleware: the agent parses the provider's JSON into structuredResponse.
    const plain = await createAgent({ model: chatOpenAI(), tools: [], responseFormat: schema }).invoke({
      messages: [{ role: "user", content: "Who?" }],
    });
    expect(plain.structuredResponse).toEqual({ name: "Ada" });

    const governed = await createAgent({
      model: chatOpenAI(),
      tools: [],
      responseFormat: schema,
      middleware: [usertrustAgentMiddleware({ engine })],
    }).invoke({ messages: [{ role: "user", content: "Who?" }] });
    expect(governed.structuredResponse, "structuredResponse lost by wrapModelCall").toEqual({ name: "Ada" });
    const receipts = runTotal(governed.messages).receipts;
    expect(receipts).toHaveLength(1);
    expect((receipts[0] as TrustReceipt).usageSource).toBe("provider");
    expect(readAuditLog(vault.paths.auditLog).map((event) => event.kind)).toEqual(["spend"]);
  });
});
