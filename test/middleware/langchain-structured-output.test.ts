import { createAgent } from "langchain";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import {
  governedChatModel,
  runTotal,
  usertrustAgentMiddleware,
} from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { langChainOnOpenAI } from "../support/langchain-fixture.ts";

/*
 * Structured output through the LangChain surfaces. README: governedChatModel is "use it anywhere a
 * chat model goes"; usertrustAgentMiddleware's wrapModelCall "holds and settles each model call and
 * returns the AIMessage with response_metadata.usertrust".
 */

const { server, engineOn: engineWith, chatOpenAI } = langChainOnOpenAI();

const schema = z.object({ name: z.string() });

describe("structured output through usertrust/langchain", () => {
  it("createAgent({ responseFormat }) with usertrustAgentMiddleware still yields structuredResponse", async () => {
    const { vault, engine } = await engineWith();
    server().setBehaviour({ reply: '{"name":"Ada"}', promptTokens: 1_000, completionTokens: 10 });

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

  it("createAgent({ model: governedChatModel(…), responseFormat }) yields structuredResponse with a receipt", async () => {
    const { vault, engine } = await engineWith();
    server().setBehaviour({ reply: '{"name":"Ada"}', promptTokens: 1_000, completionTokens: 10 });

    const result = await createAgent({
      model: governedChatModel(chatOpenAI(), engine),
      tools: [],
      responseFormat: schema,
    }).invoke({ messages: [{ role: "user", content: "Who?" }] });

    expect(result.structuredResponse).toEqual({ name: "Ada" });
    const receipts = runTotal(result.messages).receipts;
    expect(receipts).toHaveLength(1);
    expect(receipts[0]?.cost).toBe((await engine.balance()).postedUsertokens);
    expect(readAuditLog(vault.paths.auditLog).map((event) => event.kind)).toEqual(["spend"]);
  });
});
