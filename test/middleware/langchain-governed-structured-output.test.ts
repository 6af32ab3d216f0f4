import { ChatAnthropic } from "@langchain/anthropic";
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import type { BaseMessage } from "@langchain/core/messages";
import { JsonOutputParser } from "@langchain/core/output_parsers";
import { ChatOpenAI } from "@langchain/openai";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { PolicyDeniedError, UnsupportedClientError } from "../../src/core/errors.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { governedChatModel } from "../../src/middleware/langchain/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { langChainOnOpenAI } from "../support/langchain-fixture.ts";

/*
 * governedChatModel(model).withStructuredOutput(schema): the structured call is governed exactly
 * like invoke (held, checked, settled, audited), with the provider's own structured-output
 * request (tool calling, json_schema, json_object) and parsers. Real ChatOpenAI and ChatAnthropic
 * against the local stand-ins.
 */

const { server, engineOn, chatOpenAI } = langChainOnOpenAI();

let anthropic: AnthropicStandIn;
beforeAll(async () => {
  anthropic = await startAnthropicStandIn();
});
afterAll(() => anthropic.close());

const person = z.object({ name: z.string() });

const receiptOf = (message: BaseMessage) =>
  (message.response_metadata as Record<string, unknown>).usertrust as TrustReceipt | undefined;

function chatAnthropic(): ChatAnthropic {
  return new ChatAnthropic({
    model: "claude-sonnet-4-6",
    apiKey: "test",
    anthropicApiUrl: anthropic.url,
    maxRetries: 0,
    maxTokens: 10_000,
  });
}

const DENY_MINI = `- name: no-mini
  effect: deny
  enforcement: hard
  severity: high
  conditions:
    - { field: model, operator: eq, value: gpt-4o-mini }
`;

describe("governedChatModel(ChatOpenAI).withStructuredOutput", () => {
  it("parses a tool call (functionCalling) into the schema's object and posts the call", async () => {
    const { vault, engine } = await engineOn();
    server().setBehaviour({
      toolCall: { name: "extract", arguments: '{"name":"Ada"}' },
      promptTokens: 1_000,
    });
    const structured = governedChatModel(chatOpenAI(), engine).withStructuredOutput(person, {
      method: "functionCalling",
    });

    const parsed = await structured.invoke("Who wrote the first program?");

    expectTypeOf(parsed).toEqualTypeOf<{ name: string }>();
    expect(parsed).toEqual({ name: "Ada" });
    const body = server().requests.at(-1)?.body as Record<string, unknown>;
    expect(body.tool_choice).toEqual({ type: "function", function: { name: "extract" } });
    const balance = await engine.balance();
    expect(balance.pendingUsertokens).toBe(0);
    expect(balance.postedUsertokens).toBeGreaterThan(0);
    expect(readAuditLog(vault.paths.auditLog).map((event) => event.kind)).toEqual(["spend"]);
  });

  it("sends json_schema by default and, with includeRaw, carries the receipt on the raw message", async () => {
    const { engine } = await engineOn();
    server().setBehaviour({ reply: '{"name":"Ada"}', promptTokens: 1_000, completionTokens: 10 });
    const structured = governedChatModel(chatOpenAI(), engine).withStructuredOutput(person, {
      includeRaw: true,
    });

    const { raw, parsed } = await structured.invoke("Who?");

    expect(parsed).toEqual({ name: "Ada" });
    const body = server().requests.at(-1)?.body as { response_format?: { type?: string } };
    expect(body.response_format?.type).toBe("json_schema");
    const receipt = receiptOf(raw);
    expect(receipt?.usageSource).toBe("provider");
    expect(receipt?.cost).toBe((await engine.balance()).postedUsertokens);
  });

  it("sends json_object for jsonMode", async () => {
    const { engine } = await engineOn();
    server().setBehaviour({ reply: '{"name":"Ada"}' });
    const structured = governedChatModel(chatOpenAI(), engine).withStructuredOutput(person, {
      method: "jsonMode",
    });

    expect(await structured.invoke("Who? Answer in JSON.")).toEqual({ name: "Ada" });
    const body = server().requests.at(-1)?.body as { response_format?: { type?: string } };
    expect(body.response_format).toEqual({ type: "json_object" });
    expect(await engine.balance()).toMatchObject({ pendingUsertokens: 0 });
  });

  it("streams the parsed object and settles the stream", async () => {
    const { engine } = await engineOn();
    server().setBehaviour({ toolCall: { name: "extract", arguments: '{"name":"Ada"}' } });
    const structured = governedChatModel(chatOpenAI(), engine).withStructuredOutput(person, {
      method: "functionCalling",
    });

    let last: unknown;
    for await (const partial of await structured.stream("Who?")) last = partial;

    expect(last).toEqual({ name: "Ada" });
    const balance = await engine.balance();
    expect(balance.pendingUsertokens).toBe(0);
    expect(balance.postedUsertokens).toBeGreaterThan(0);
  });

  it("rejects a call the policy denies before any request reaches the provider", async () => {
    const { vault, engine } = await engineOn(100_000, DENY_MINI);
    const before = server().requests.length;
    const structured = governedChatModel(chatOpenAI(), engine).withStructuredOutput(person);

    await expect(structured.invoke("Who?")).rejects.toBeInstanceOf(PolicyDeniedError);

    expect(server().requests.length).toBe(before);
    expect(await engine.balance()).toMatchObject({ postedUsertokens: 0, pendingUsertokens: 0 });
    expect(readAuditLog(vault.paths.auditLog).map((event) => event.kind)).toContain("policy_denied");
  });
});

describe("governedChatModel(ChatAnthropic).withStructuredOutput", () => {
  it("parses a forced tool_use block into the schema's object, receipt on the raw message", async () => {
    const { engine } = await engineOn();
    anthropic.setBehaviour({ toolUse: { name: "extract", input: { name: "Ada" } }, inputTokens: 1_000 });
    const structured = governedChatModel(chatAnthropic(), engine).withStructuredOutput(person, {
      includeRaw: true,
    });

    const { raw, parsed } = await structured.invoke("Who?");

    expect(parsed).toEqual({ name: "Ada" });
    const body = anthropic.requests.at(-1)?.body as { tool_choice?: unknown };
    expect(body.tool_choice).toEqual({ type: "tool", name: "extract" });
    expect(receiptOf(raw)?.cost).toBe((await engine.balance()).postedUsertokens);
    expect(await engine.balance()).toMatchObject({ pendingUsertokens: 0 });
  });

  it("sends output_config's json_schema for jsonSchema and parses the text", async () => {
    const { engine } = await engineOn();
    anthropic.setBehaviour({ reply: '{"name":"Ada"}' });
    const structured = governedChatModel(chatAnthropic(), engine).withStructuredOutput(person, {
      method: "jsonSchema",
    });

    expect(await structured.invoke("Who?")).toEqual({ name: "Ada" });
    const body = anthropic.requests.at(-1)?.body as { output_config?: { format?: { type?: string } } };
    expect(body.output_config?.format?.type).toBe("json_schema");
    expect((await engine.balance()).postedUsertokens).toBeGreaterThan(0);
  });
});

describe("a wrapped model with LangChain's base withStructuredOutput (none of its own)", () => {
  it("parses the tool call of an invoke, which the base parser refuses as not a message chunk", async () => {
    const { engine } = await engineOn();
    class BaseOnlyChatOpenAI extends ChatOpenAI {}
    BaseOnlyChatOpenAI.prototype.withStructuredOutput = BaseChatModel.prototype.withStructuredOutput;
    const model = new BaseOnlyChatOpenAI({
      model: "gpt-4o-mini",
      apiKey: "test",
      configuration: { baseURL: `${server().url}/v1` },
      maxRetries: 0,
    });
    server().setBehaviour({ toolCall: { name: "extract", arguments: '{"name":"Ada"}' } });

    const { raw, parsed } = await governedChatModel(model, engine)
      .withStructuredOutput(person, { includeRaw: true })
      .invoke("Who?");

    expect(parsed).toEqual({ name: "Ada" });
    expect(receiptOf(raw)?.cost).toBe((await engine.balance()).postedUsertokens);
    const body = server().requests.at(-1)?.body as { tools?: Array<{ function?: { name?: string } }> };
    expect(body.tools?.map((tool) => tool.function?.name)).toEqual(["extract"]);
  });
});

describe("a wrapped model whose withStructuredOutput bypasses withConfig", () => {
  it("is refused when the structured runnable is built, so nothing is sent ungoverned", async () => {
    const { engine } = await engineOn();
    class DirectChatOpenAI extends ChatOpenAI {
      // Pipes the model itself, not a binding made by withConfig or bindTools.
      override withStructuredOutput(): never {
        return this.pipe(new JsonOutputParser()) as never;
      }
    }
    const direct = new DirectChatOpenAI({
      model: "gpt-4o-mini",
      apiKey: "test",
      configuration: { baseURL: `${server().url}/v1` },
      maxRetries: 0,
    });

    expect(() => governedChatModel(direct, engine).withStructuredOutput(person)).toThrow(
      UnsupportedClientError,
    );
  });
});
