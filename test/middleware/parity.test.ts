import { existsSync } from "node:fs";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import Anthropic from "@anthropic-ai/sdk";
import { generateText, type LanguageModel, streamText, wrapLanguageModel } from "ai";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import type { AuditEvent } from "../../src/core/audit/audit-event.ts";
import { BudgetExceededError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { sharedEngine } from "../../src/core/surface/shared-engine.ts";
import { usertrustMiddleware } from "../../src/middleware/ai-sdk/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * The same calls through trust(new OpenAI(…)) / trust(new Anthropic(…)) and through the AI SDK
 * middleware, each on its own vault, must govern identically: the same audit event kinds in the
 * same order, the same holds, costs and ledger movements, and receipts with the same fields.
 */

let openaiServer: OpenAIStandIn;
let anthropicServer: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  [openaiServer, anthropicServer] = await Promise.all([startOpenAIStandIn(), startAnthropicStandIn()]);
});
afterAll(async () => {
  await Promise.all([openaiServer.close(), anthropicServer.close()]);
});
afterEach(async () => {
  openaiServer.setBehaviour({});
  anthropicServer.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Vault = ReturnType<typeof makeTempVault>;

/** Two vaults with the same budget: one for trust(), one for the middleware (its shared engine is closed after the test). */
function twoVaults(budget: number): { sdk: Vault; aiSdk: Vault } {
  const sdk = makeTempVault({ budget });
  const aiSdk = makeTempVault({ budget });
  cleanups.push(async () => {
    await (await sharedEngine({ vaultBase: aiSdk.base })).close();
    sdk.cleanup();
    aiSdk.cleanup();
  });
  return { sdk, aiSdk };
}

function auditEvents(vault: Vault): AuditEvent[] {
  return existsSync(vault.paths.auditLog) ? readAuditLog(vault.paths.auditLog) : [];
}

async function ledgerOf(vault: Vault) {
  const ledger = new SqliteLedger({ path: vault.paths.ledger });
  try {
    const balance = await ledger.balance();
    return { posted: balance.postedUsertokens, pending: balance.pendingUsertokens };
  } finally {
    await ledger.close();
  }
}

/** What a governed call decided, without the fields that are unique per call (ids, hashes, times, paths). */
function decision(event: AuditEvent): Record<string, unknown> {
  const { transferId: _id, ...data } = event.data;
  return { kind: event.kind, actor: event.actor, ...data };
}

function comparable(receipt: TrustReceipt): Record<string, unknown> {
  const { transferId: _t, auditHash: _h, chainPath: _c, timestamp: _s, ...rest } = receipt;
  return rest;
}

function middlewareModel(
  vault: Vault,
  model: Parameters<typeof wrapLanguageModel>[0]["model"],
): LanguageModel {
  return wrapLanguageModel({ model, middleware: usertrustMiddleware({ vaultBase: vault.base }) });
}

const SYSTEM = "You are terse.";
// Per call: gpt-4o-mini, 20,000 in × $0.15/M + 5,000 out × $0.60/M = $0.003 + $0.003 = $0.006 = 60 UT.
const USAGE = { promptTokens: 20_000, completionTokens: 5_000 };
const CALL_UT = 60;
// Three calls on a 2,000 UT budget: two that fit, then one whose 50M-token output cap
// (50,000,000 × $0.60/M = $30 = 300,000 UT) does not.
const CALLS = [
  { prompt: "Say hello", maxTokens: 10_000 },
  { prompt: "Say goodbye", maxTokens: 10_000 },
  { prompt: "Write a novel", maxTokens: 50_000_000 },
];

describe("trust(new OpenAI()) and the AI SDK middleware govern alike", () => {
  it("the same three calls (one refused by the budget): same events, holds, costs, ledger and receipt fields", async () => {
    const { sdk, aiSdk } = twoVaults(2_000);
    openaiServer.setBehaviour(USAGE);

    const client = await trust(
      new OpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: sdk.base,
      },
    );
    const sdkOutcomes: Array<TrustReceipt | unknown> = [];
    for (const call of CALLS) {
      try {
        const { receipt } = await client.chat.completions.create({
          model: "gpt-4o-mini",
          max_tokens: call.maxTokens,
          messages: [
            { role: "system", content: SYSTEM },
            { role: "user", content: call.prompt },
          ],
        });
        sdkOutcomes.push(receipt);
      } catch (error) {
        sdkOutcomes.push(error);
      }
    }
    await client.destroy();
    const sdkRequests = openaiServer.requests.length;

    const model = middlewareModel(
      aiSdk,
      createOpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test" }).chat("gpt-4o-mini"),
    );
    const aiSdkOutcomes: Array<TrustReceipt | unknown> = [];
    for (const call of CALLS) {
      try {
        const result = await generateText({
          model,
          system: SYSTEM,
          prompt: call.prompt,
          maxOutputTokens: call.maxTokens,
          maxRetries: 0,
        });
        aiSdkOutcomes.push(result.finalStep.providerMetadata?.usertrust);
      } catch (error) {
        aiSdkOutcomes.push(error);
      }
    }
    // The provider saw two calls from each surface, with the same bodies.
    expect(openaiServer.requests.length - sdkRequests).toBe(2);
    expect(openaiServer.requests.slice(sdkRequests).map((request) => request.body)).toEqual(
      openaiServer.requests.slice(sdkRequests - 2, sdkRequests).map((request) => request.body),
    );

    // Audit: the same kinds in the same order, and the same decisions (holds, costs, usage, prompt hashes).
    const sdkEvents = auditEvents(sdk);
    const aiSdkEvents = auditEvents(aiSdk);
    expect(sdkEvents.map((event) => event.kind)).toEqual(["spend", "spend", "budget_exceeded"]);
    expect(aiSdkEvents.map((event) => event.kind)).toEqual(sdkEvents.map((event) => event.kind));
    expect(aiSdkEvents.map(decision)).toEqual(sdkEvents.map(decision));
    expect(sdkEvents.slice(0, 2).map((event) => event.data.costUsertokens)).toEqual([CALL_UT, CALL_UT]);

    // Ledger: the same movements.
    expect(await ledgerOf(sdk)).toEqual({ posted: 2 * CALL_UT, pending: 0 });
    expect(await ledgerOf(aiSdk)).toEqual(await ledgerOf(sdk));

    // Receipts: the same fields and values; the refusal is the same error.
    const [sdkFirst, sdkSecond, sdkRefusal] = sdkOutcomes as [TrustReceipt, TrustReceipt, unknown];
    const [aiFirst, aiSecond, aiRefusal] = aiSdkOutcomes as [TrustReceipt, TrustReceipt, unknown];
    for (const [ours, theirs] of [
      [aiFirst, sdkFirst],
      [aiSecond, sdkSecond],
    ] as const) {
      expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
      expect(comparable(ours)).toEqual(comparable(theirs));
    }
    expect(sdkSecond).toMatchObject({ cost: CALL_UT, budgetRemaining: 2_000 - 2 * CALL_UT });
    expect(sdkRefusal).toBeInstanceOf(BudgetExceededError);
    expect(aiRefusal).toBeInstanceOf(BudgetExceededError);
    expect(aiRefusal).toMatchObject({
      neededUsertokens: (sdkRefusal as BudgetExceededError).neededUsertokens,
      remainingUsertokens: (sdkRefusal as BudgetExceededError).remainingUsertokens,
    });
  });

  it("a streamed call: the same spend and receipt fields from stream: true and streamText", async () => {
    const { sdk, aiSdk } = twoVaults(100_000);
    openaiServer.setBehaviour(USAGE);
    const messages = [
      { role: "system" as const, content: SYSTEM },
      { role: "user" as const, content: "Say hello" },
    ];
    const client = await trust(
      new OpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: sdk.base,
      },
    );
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      max_tokens: 10_000,
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const _chunk of stream) {
      // read it all
    }
    const sdkReceipt = await stream.receipt;
    await client.destroy();

    const result = streamText({
      model: middlewareModel(
        aiSdk,
        createOpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test" }).chat("gpt-4o-mini"),
      ),
      system: SYSTEM,
      prompt: "Say hello",
      maxOutputTokens: 10_000,
    });
    await result.consumeStream();
    const aiSdkReceipt = (await result.providerMetadata)?.usertrust as unknown as TrustReceipt;

    expect(sdkReceipt).toMatchObject({ cost: CALL_UT, usageSource: "provider" });
    expect(comparable(aiSdkReceipt)).toEqual(comparable(sdkReceipt));
    expect(auditEvents(aiSdk).map(decision)).toEqual(auditEvents(sdk).map(decision));
    expect(await ledgerOf(aiSdk)).toEqual(await ledgerOf(sdk));
  });

  it("client errors (HTTP 400) do not open the provider's circuit on either surface", async () => {
    // Five 400s (the request's fault, not the provider's), then a good call: the circuit breaker's
    // default failureThreshold is 5, so counting them as provider faults would refuse the sixth.
    const { sdk, aiSdk } = twoVaults(100_000);
    const client = await trust(
      new OpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: sdk.base,
      },
    );
    openaiServer.setBehaviour({ failStatus: { status: 400, times: 5 } });
    const sdkOutcomes: string[] = [];
    for (let call = 0; call < 6; call += 1) {
      try {
        await client.chat.completions.create({
          model: "gpt-4o-mini",
          max_tokens: 100,
          messages: [{ role: "user", content: "Say hello" }],
        });
        sdkOutcomes.push("ok");
      } catch (error) {
        sdkOutcomes.push(error instanceof OpenAI.BadRequestError ? "400" : (error as Error).name);
      }
    }
    await client.destroy();

    const model = middlewareModel(
      aiSdk,
      createOpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test" }).chat("gpt-4o-mini"),
    );
    openaiServer.setBehaviour({ failStatus: { status: 400, times: 5 } });
    const aiSdkOutcomes: string[] = [];
    for (let call = 0; call < 6; call += 1) {
      try {
        await generateText({ model, prompt: "Say hello", maxOutputTokens: 100, maxRetries: 0 });
        aiSdkOutcomes.push("ok");
      } catch (error) {
        aiSdkOutcomes.push(
          (error as { statusCode?: number }).statusCode === 400 ? "400" : (error as Error).name,
        );
      }
    }

    expect(sdkOutcomes).toEqual(["400", "400", "400", "400", "400", "ok"]);
    expect(aiSdkOutcomes).toEqual(sdkOutcomes);
    expect(auditEvents(aiSdk).map((event) => event.kind)).toEqual(
      auditEvents(sdk).map((event) => event.kind),
    );
  });
});

describe("trust(new Anthropic()) and the AI SDK middleware govern alike", () => {
  it("a stream cut by an error event is charged the input message_start reported, on both surfaces", async () => {
    // message_start reports 1,000 input tokens; an overloaded_error event follows the second word.
    const { sdk, aiSdk } = twoVaults(100_000);
    anthropicServer.setBehaviour({ reply: "a b c d e f", errorEventAfter: 2, inputTokens: 1_000 });

    const client = await trust(
      new Anthropic({ baseURL: anthropicServer.url, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: sdk.base,
      },
    );
    const { response, governance } = await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 1_000,
      messages: [{ role: "user", content: "Say hello" }],
      stream: true,
    });
    await expect(async () => {
      for await (const _event of response) {
        // read until the error event
      }
    }).rejects.toBeInstanceOf(Anthropic.APIError);
    const sdkReceipt = await governance;
    await client.destroy();

    const errors: unknown[] = [];
    const result = streamText({
      model: middlewareModel(
        aiSdk,
        createAnthropic({ baseURL: `${anthropicServer.url}/v1`, apiKey: "test" })("claude-sonnet-4-6"),
      ),
      prompt: "Say hello",
      maxOutputTokens: 1_000,
      maxRetries: 0,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    await result.consumeStream();
    expect(errors).toHaveLength(1);
    await expect.poll(async () => (await ledgerOf(aiSdk)).pending, { timeout: 1_000, interval: 10 }).toBe(0);

    // trust(): 1,000 in × $3/M + 2 out × $15/M = 3,030 µ$ → 31 UT, from the provider's report.
    expect(sdkReceipt).toMatchObject({ cost: 31, usageSource: "provider", usage: { inputTokens: 1_000 } });
    const [sdkSpend] = auditEvents(sdk);
    const [aiSdkSpend] = auditEvents(aiSdk);
    expect(aiSdkSpend?.kind).toBe("spend");
    expect(aiSdkSpend?.data).toMatchObject({
      costUsertokens: sdkSpend?.data.costUsertokens,
      usage: sdkSpend?.data.usage,
      usageSource: sdkSpend?.data.usageSource,
    });
    expect(await ledgerOf(aiSdk)).toEqual(await ledgerOf(sdk));
  });
});
