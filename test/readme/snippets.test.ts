// README snippets, kept as close to verbatim as possible (only undefined names are given values
// and clients point at the local stand-ins). `npx tsc --noEmit -p .` type-checks them.
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BudgetExceededError,
  createEngine,
  receiptOf,
  receiptsOf,
  trust,
  withTrustContext,
} from "../../src/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let openaiServer: OpenAIStandIn;
let anthropicServer: AnthropicStandIn;
let googleServer: GoogleStandIn;
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  openaiServer = await startOpenAIStandIn();
  anthropicServer = await startAnthropicStandIn();
  googleServer = await startGoogleStandIn();
});
afterAll(async () => {
  await openaiServer.close();
  await anthropicServer.close();
  await googleServer.close();
  for (const c of cleanups.splice(0)) c();
});

function vaultBase(budget = 100_000): string {
  const v = makeTempVault({ budget });
  cleanups.push(v.cleanup);
  return v.base;
}

describe("README snippets", () => {
  it("Quickstart", async () => {
    const messages = [{ role: "user" as const, content: "Hello" }];
    const client = await trust(
      new OpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test", maxRetries: 0 }),
      { budget: 50_000, vaultBase: vaultBase() },
    ); // 50,000 usertokens = $5.00
    expect(BudgetExceededError).toBeDefined();

    const { response, receipt } = await client.chat.completions.create({
      model: "gpt-4o-mini",
      max_tokens: 512,
      messages: [{ role: "user", content: "Hello" }],
    });
    console.log(response.choices[0]?.message.content);
    console.log(receipt.cost, receipt.budgetRemaining, receipt.auditHash);

    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta.content ?? "");
    const streamReceipt = await stream.receipt;
    expect(streamReceipt.settled).toBe(true);

    await client.destroy();
  });

  it("Anthropic and Google", async () => {
    const claude = await trust(new Anthropic({ baseURL: anthropicServer.url, apiKey: "t", maxRetries: 0 }), {
      budget: 50_000,
      vaultBase: vaultBase(),
    });
    const { response, receipt } = await claude.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 1024,
      messages: [{ role: "user", content: "Hello" }],
    });
    expect(response.content.length).toBeGreaterThan(0);
    expect(receipt.settled).toBe(true);
    await claude.destroy();

    const apiKey = "test";
    const gemini = await trust(new GoogleGenAI({ apiKey, httpOptions: { baseUrl: googleServer.url } }), {
      budget: 50_000,
      vaultBase: vaultBase(),
    });
    const g = await gemini.models.generateContent({ model: "gemini-2.5-flash", contents: "Hello" });
    expect(g.receipt.settled).toBe(true);
    expect(g.response).toBeDefined();
    await gemini.destroy();
  });

  it("native shape", async () => {
    const receipts: unknown[] = [];
    const log = (r: unknown) => receipts.push(r);
    const model = "gpt-4o-mini";
    const messages = [{ role: "user" as const, content: "Hello" }];
    openaiServer.setBehaviour({ toolCall: { name: "lookup" } });
    try {
      const client = await trust(
        new OpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test", maxRetries: 0 }),
        { shape: "native", onReceipt: (r) => log(r), vaultBase: vaultBase() },
      );
      const completion = await client.chat.completions.create({ model, messages }); // a ChatCompletion
      const receipt = await receiptOf(completion);
      expect(receipt.settled).toBe(true);
      const runner = client.chat.completions.runTools({
        model,
        messages,
        tools: [
          {
            type: "function",
            function: {
              name: "lookup",
              description: "Looks up",
              parameters: { type: "object", properties: {} },
              parse: JSON.parse,
              function: () => "42",
            },
          },
        ],
      });
      await runner.finalContent();
      const perRequest = await receiptsOf(runner);
      expect(perRequest.length).toBe(2);
      await client.destroy();
    } finally {
      openaiServer.setBehaviour({});
    }
  });

  it("Who is calling", async () => {
    const model = "gpt-4o-mini";
    const messages = [{ role: "user" as const, content: "Hello" }];
    const client = await trust(
      new OpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test", maxRetries: 0 }),
      { scope: "production/api", actor: "svc-search", metadata: { team: "search" }, vaultBase: vaultBase() },
    );
    await withTrustContext({ scope: "production/chat", actor: "agent-7", metadata: { ticket: 42 } }, () =>
      client.chat.completions.create({ model, messages }),
    );
    await client.destroy();
  });

  it("The engine", async () => {
    const engine = await createEngine({ vaultBase: vaultBase(), budget: 10_000 });
    const hold = await engine.authorize({
      provider: "openai",
      model: "gpt-4o-mini",
      promptParts: ["Hello"],
      maxOutputTokens: 256,
    });
    const receipt = await hold.settle({
      inputTokens: 12,
      outputTokens: 80,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    expect(receipt.settled).toBe(true);
    await engine.close();
  });
});
