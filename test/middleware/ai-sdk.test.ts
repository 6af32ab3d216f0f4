import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import {
  createProviderRegistry,
  generateObject,
  generateText,
  Output,
  RetryError,
  stepCountIs,
  streamObject,
  streamText,
  tool,
} from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AuditEvent } from "../../src/core/audit/audit-event.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import type { TrustConfig } from "../../src/core/config.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import { BudgetExceededError, PolicyDeniedError } from "../../src/core/errors.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { sharedEngine } from "../../src/core/surface/shared-engine.ts";
import { withTrustContext } from "../../src/core/surface/trust-context.ts";
import {
  governModel,
  governProvider,
  receiptOfStep,
  runTotal,
  usertrustToolApproval,
} from "../../src/middleware/ai-sdk/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * usertrust/ai-sdk with the real `ai` package and the real @ai-sdk/openai and @ai-sdk/anthropic
 * providers pointed at the local stand-ins: every model call is held, settled from the V4 usage
 * parts and audited, and its receipt travels in providerMetadata.usertrust.
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

/** A temp vault and an engine on it (closed, and the vault removed, after the test). */
async function governedVault(
  budget = 100_000,
  config: Partial<TrustConfig> = {},
): Promise<{ vault: Vault; engine: Engine }> {
  const vault = makeTempVault({ budget, ...config });
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  return { vault, engine };
}

/** A vault whose policies are the default file plus `yaml` (extra rules), and an engine on it. */
async function policyVault(yaml: string, budget = 100_000): Promise<{ vault: Vault; engine: Engine }> {
  const vault = makeTempVault({ budget, policies: ["policies/default.yml", "policies/extra.yml"] });
  writeFileSync(join(vault.paths.policiesDir, "extra.yml"), yaml);
  const engine = await createEngine({ vaultBase: vault.base });
  cleanups.push(async () => {
    await engine.close();
    vault.cleanup();
  });
  return { vault, engine };
}

function auditEvents(vault: Vault): AuditEvent[] {
  return existsSync(vault.paths.auditLog) ? readAuditLog(vault.paths.auditLog) : [];
}

function kinds(vault: Vault): string[] {
  return auditEvents(vault).map((event) => event.kind);
}

/** The ledger as another connection to the vault's SQLite file sees it (the engine stays open, so nothing is voided by a close). */
async function ledgerOf(vault: Vault) {
  const ledger = new SqliteLedger({ path: vault.paths.ledger });
  try {
    const balance = await ledger.balance();
    return { posted: balance.postedUsertokens, pending: balance.pendingUsertokens };
  } finally {
    await ledger.close();
  }
}

function openai() {
  return createOpenAI({ baseURL: `${openaiServer.url}/v1`, apiKey: "test" });
}

function anthropic() {
  return createAnthropic({ baseURL: `${anthropicServer.url}/v1`, apiKey: "test" });
}

function receiptIn(metadata: unknown): TrustReceipt {
  const receipt = (metadata as Record<string, unknown> | undefined)?.usertrust;
  expect(receipt, "providerMetadata.usertrust").toBeDefined();
  return receipt as TrustReceipt;
}

// gpt-4o-mini per million tokens: input $0.15, cached input $0.075, output $0.60.
// 1,000,000 prompt tokens of which 600,000 cached, 100,000 completion tokens:
// 400,000 × $0.15 + 600,000 × $0.075 + 100,000 × $0.60 = $0.06 + $0.045 + $0.06 = $0.165 = 1,650 UT.
// (Pricing the cached part again as input would give $0.21 = 2,100 UT.)
const OPENAI_CACHED = { promptTokens: 1_000_000, cachedTokens: 600_000, completionTokens: 100_000 };
const OPENAI_CACHED_UT = 1_650;
// Holds 1,000,000 output tokens × $0.60/M = 6,000 UT (plus the prompt), so the cost fits the hold.
const BIG_CAP = 1_000_000;

// claude-sonnet-4-6 per million tokens: input $3, output $15, cache read $0.30, 5-minute cache write
// $3.75, 1-hour cache write $6. With 1,000 uncached in, 500 out, 2,000 read, 600 + 400 written:
// 3,000 + 7,500 + 600 + 2,250 + 2,400 = 15,750 µ$ = 157.5 UT, rounded up to 158. The V4 usage's
// inputTokens.total is 4,000 (it includes the cache tokens): pricing it as input would give more.
const ANTHROPIC_CACHED = {
  inputTokens: 1_000,
  outputTokens: 500,
  cacheReadInputTokens: 2_000,
  cacheCreation: { ephemeral5m: 600, ephemeral1h: 400 },
};
const ANTHROPIC_CACHED_UT = 158;

describe("usertrust/ai-sdk: generateText, one model call", () => {
  it("prices OpenAI chat usage from the V4 parts (cached tokens at the cache rate) and puts the receipt on the step", async () => {
    const { vault, engine } = await governedVault();
    openaiServer.setBehaviour(OPENAI_CACHED);
    const result = await generateText({
      model: governModel(openai().chat("gpt-4o-mini"), engine),
      prompt: "Say hello",
      maxOutputTokens: BIG_CAP,
    });
    expect(result.text).toBe("Hello from the stand-in.");
    const receipt = receiptIn(result.finalStep.providerMetadata);
    expect(receipt).toMatchObject({
      cost: OPENAI_CACHED_UT,
      settled: true,
      provider: "openai",
      model: "gpt-4o-mini",
      usageSource: "provider",
      budgetRemaining: 100_000 - OPENAI_CACHED_UT,
      chainPath: vault.paths.auditLog,
    });
    // The hold covered the cost: nothing went unrecorded.
    expect(receipt.warnings.join("\n")).not.toContain("unrecorded");
    expect(receipt.usage).toEqual({
      inputTokens: 400_000,
      outputTokens: 100_000,
      cacheReadTokens: 600_000,
      cacheWriteTokens: 0,
    });
    // The provider's own metadata is kept beside ours, and the receipt is plain JSON.
    expect(result.finalStep.providerMetadata).toHaveProperty("openai");
    expect(JSON.parse(JSON.stringify(receipt))).toEqual(receipt);
    expect(result.steps).toHaveLength(1);
    expect(receiptOfStep(result.steps[0] ?? {})).toEqual(receipt);
    expect(runTotal(result.steps)).toMatchObject({ cost: OPENAI_CACHED_UT, calls: 1 });

    expect(await ledgerOf(vault)).toEqual({ posted: OPENAI_CACHED_UT, pending: 0 });
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend"]);
    expect(events[0]).toMatchObject({ hash: receipt.auditHash, data: { transferId: receipt.transferId } });
    expect(JSON.stringify(events)).not.toContain("Say hello");
    expect(verifyChain(vault.paths.auditLog, { headPath: vault.paths.auditHead }).ok).toBe(true);
  });

  it.each([
    ["openai.responses(model)", (id: string) => openai().responses(id)],
    ["openai(model) (the Responses API by default)", (id: string) => openai()(id)],
  ])("prices the Responses API the same way: %s", async (_name, make) => {
    const { vault, engine } = await governedVault();
    openaiServer.setBehaviour(OPENAI_CACHED);
    const before = openaiServer.requests.length;
    const result = await generateText({
      model: governModel(make("gpt-4o-mini"), engine),
      prompt: "Say hello",
      maxOutputTokens: BIG_CAP,
    });
    expect(openaiServer.requests.slice(before).map((request) => request.path)).toEqual(["/v1/responses"]);
    const receipt = receiptIn(result.finalStep.providerMetadata);
    expect(receipt).toMatchObject({ cost: OPENAI_CACHED_UT, settled: true, usageSource: "provider" });
    expect(receipt.usage).toMatchObject({ inputTokens: 400_000, cacheReadTokens: 600_000 });
    expect(await ledgerOf(vault)).toEqual({ posted: OPENAI_CACHED_UT, pending: 0 });
    expect(kinds(vault)).toEqual(["spend"]);
  });

  it("prices Anthropic usage from its parts although inputTokens.total includes cache reads and writes", async () => {
    const { vault, engine } = await governedVault();
    anthropicServer.setBehaviour(ANTHROPIC_CACHED);
    const result = await generateText({
      model: governModel(anthropic()("claude-sonnet-4-6"), engine),
      prompt: "Say hello",
      maxOutputTokens: 100_000,
    });
    // What the AI SDK reports: the total includes the 3,000 cache tokens.
    expect(result.usage.inputTokens).toBe(4_000);
    const receipt = receiptIn(result.finalStep.providerMetadata);
    expect(receipt).toMatchObject({
      cost: ANTHROPIC_CACHED_UT,
      provider: "anthropic",
      model: "claude-sonnet-4-6",
      settled: true,
      usageSource: "provider",
    });
    expect(receipt.usage).toEqual({
      inputTokens: 1_000,
      outputTokens: 500,
      cacheReadTokens: 2_000,
      cacheWriteTokens: 1_000,
      cacheWrite1hTokens: 400,
    });
    expect(result.finalStep.providerMetadata).toHaveProperty("anthropic");
    expect(await ledgerOf(vault)).toEqual({ posted: ANTHROPIC_CACHED_UT, pending: 0 });
    expect(kinds(vault)).toEqual(["spend"]);
  });
});

describe("usertrust/ai-sdk: a multi-step tool loop", () => {
  it("holds and settles each model call of the loop, with one receipt per step", async () => {
    const { vault, engine } = await governedVault();
    // gpt-4o-mini, 10,000 in × $0.15/M + 1,000 out × $0.60/M = $0.0015 + $0.0006 = $0.0021 = 21 UT per call.
    openaiServer.setBehaviour({
      toolCall: { name: "weather", arguments: '{"city":"Paris"}' },
      promptTokens: 10_000,
      completionTokens: 1_000,
    });
    const before = openaiServer.requests.length;
    const cities: string[] = [];
    const result = await generateText({
      model: governModel(openai().chat("gpt-4o-mini"), engine),
      prompt: "What is the weather in Paris?",
      maxOutputTokens: 10_000,
      stopWhen: stepCountIs(3),
      tools: {
        weather: tool({
          description: "Weather in a city",
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => {
            cities.push(city);
            return `sunny in ${city}`;
          },
        }),
      },
    });
    expect(cities).toEqual(["Paris"]);
    expect(result.text).toBe("Hello from the stand-in.");
    expect(openaiServer.requests.length - before).toBe(2);

    expect(result.steps).toHaveLength(2);
    const receipts = result.steps.map((step) => receiptIn(step.providerMetadata));
    expect(receipts.map((receipt) => receipt.cost)).toEqual([21, 21]);
    expect(receipts.every((receipt) => receipt.settled)).toBe(true);
    expect(new Set(receipts.map((receipt) => receipt.transferId)).size).toBe(2);
    expect(receipts.map((receipt) => receipt.budgetRemaining)).toEqual([100_000 - 21, 100_000 - 42]);
    const total = runTotal(result.steps);
    expect(total).toMatchObject({ cost: 42, calls: 2 });
    expect(total.receipts).toEqual(receipts);

    expect(await ledgerOf(vault)).toEqual({ posted: total.cost, pending: 0 });
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend", "spend"]);
    expect(events.map((event) => event.data.transferId)).toEqual(
      receipts.map((receipt) => receipt.transferId),
    );
  });
});

describe("usertrust/ai-sdk: refusals", () => {
  it("rejects generateText with our BudgetExceededError, unwrapped and not retried; nothing reaches the provider", async () => {
    const { vault, engine } = await governedVault(5);
    const before = openaiServer.requests.length;
    // gpt-4o: 100,000 output tokens × $10/M = $1 = 10,000 UT to hold, with 5 UT of budget.
    const error = await generateText({
      model: governModel(openai().chat("gpt-4o"), engine),
      prompt: "Say hello",
      maxOutputTokens: 100_000,
      maxRetries: 2,
    }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect((error as object).constructor).toBe(BudgetExceededError);
    expect(error).toMatchObject({ code: "BUDGET_EXCEEDED", remainingUsertokens: 5 });
    expect((error as BudgetExceededError).neededUsertokens).toBeGreaterThan(10_000);
    expect(openaiServer.requests.length).toBe(before);
    expect(await ledgerOf(vault)).toEqual({ posted: 0, pending: 0 });
    expect(kinds(vault)).toEqual(["budget_exceeded"]);
  });

  it("rejects with PolicyDeniedError when a policy rule denies the model, and lets other models through", async () => {
    const { vault, engine } = await policyVault(
      "- name: no-gpt-4o\n  effect: deny\n  enforcement: hard\n  severity: high\n" +
        "  conditions:\n    - { field: model, operator: eq, value: gpt-4o }\n",
    );
    const before = openaiServer.requests.length;
    const error = await generateText({
      model: governModel(openai().chat("gpt-4o"), engine),
      prompt: "Say hello",
      maxOutputTokens: 100,
    }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect(error).toMatchObject({ rule: "no-gpt-4o", severity: "high" });
    expect(openaiServer.requests.length).toBe(before);

    const allowed = await generateText({
      model: governModel(openai().chat("gpt-4o-mini"), engine),
      prompt: "Say hello",
      maxOutputTokens: 100,
    });
    const receipt = receiptIn(allowed.finalStep.providerMetadata);
    expect(openaiServer.requests.length).toBe(before + 1);
    expect(await ledgerOf(vault)).toEqual({ posted: receipt.cost, pending: 0 });
    expect(kinds(vault)).toEqual(["policy_denied", "spend"]);
  });
});

describe("usertrust/ai-sdk: the AI SDK's retries", () => {
  it("releases the failed attempt's hold and settles the successful one once", async () => {
    const { vault, engine } = await governedVault();
    openaiServer.setBehaviour({
      failStatus: { status: 500, times: 1, retryAfterMs: 1 },
      promptTokens: 10_000,
      completionTokens: 1_000,
    });
    const before = openaiServer.requests.length;
    const seen: TrustReceipt[] = [];
    const result = await generateText({
      model: governModel(openai().chat("gpt-4o-mini"), {
        engine,
        onReceipt: (receipt) => seen.push(receipt),
      }),
      prompt: "Say hello",
      maxOutputTokens: 10_000,
      maxRetries: 2,
    });
    expect(result.text).toBe("Hello from the stand-in.");
    expect(openaiServer.requests.length - before).toBe(2);
    // 10,000 × $0.15/M + 1,000 × $0.60/M = $0.0021 = 21 UT.
    const receipt = receiptIn(result.finalStep.providerMetadata);
    expect(receipt).toMatchObject({ cost: 21, settled: true, usageSource: "provider" });

    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["call_failed", "spend"]);
    expect(events[0]?.data.transferId).not.toBe(receipt.transferId);
    expect(events[1]?.data.transferId).toBe(receipt.transferId);
    expect(await ledgerOf(vault)).toEqual({ posted: 21, pending: 0 });
    // onReceipt sees both attempts: the released one (nothing spent) and the settled one.
    await expect.poll(() => seen.length).toBe(2);
    expect(seen.map((r) => [r.settled, r.cost])).toEqual([
      [false, 0],
      [true, 21],
    ]);
  });

  it("releases every attempt's hold when the provider keeps failing", async () => {
    const { vault, engine } = await governedVault();
    openaiServer.setBehaviour({ failStatus: { status: 500, times: 3, retryAfterMs: 1 } });
    const before = openaiServer.requests.length;
    await expect(
      generateText({
        model: governModel(openai().chat("gpt-4o-mini"), engine),
        prompt: "Say hello",
        maxOutputTokens: 100,
        maxRetries: 2,
      }),
    ).rejects.toBeInstanceOf(RetryError);
    expect(openaiServer.requests.length - before).toBe(3);
    expect(kinds(vault)).toEqual(["call_failed", "call_failed", "call_failed"]);
    expect(await ledgerOf(vault)).toEqual({ posted: 0, pending: 0 });
  });
});

describe("usertrust/ai-sdk: per-call context in providerOptions.usertrust", () => {
  const policy =
    "- name: prod-frozen\n  effect: deny\n  enforcement: hard\n  severity: high\n" +
    '  scopePatterns: ["prod/**"]\n  conditions: []\n' +
    "- name: no-evil-tenant\n  effect: deny\n  enforcement: hard\n  severity: high\n" +
    "  conditions:\n    - { field: metadata.tenant, operator: eq, value: evil }\n";

  it("reaches the policy gate (scope, metadata) and the audit log (actor, scope)", async () => {
    const { vault, engine } = await policyVault(policy);
    const model = governModel(openai().chat("gpt-4o-mini"), engine);
    const before = openaiServer.requests.length;

    await expect(
      generateText({
        model,
        prompt: "Say hello",
        maxOutputTokens: 100,
        providerOptions: { usertrust: { scope: "prod/eu", actor: "alice" } },
      }),
    ).rejects.toMatchObject({ name: "PolicyDeniedError", rule: "prod-frozen" });
    await expect(
      generateText({
        model,
        prompt: "Say hello",
        maxOutputTokens: 100,
        providerOptions: { usertrust: { scope: "staging", metadata: { tenant: "evil" } } },
      }),
    ).rejects.toMatchObject({ name: "PolicyDeniedError", rule: "no-evil-tenant" });
    expect(openaiServer.requests.length).toBe(before);

    const allowed = await generateText({
      model,
      prompt: "Say hello",
      maxOutputTokens: 100,
      providerOptions: { usertrust: { scope: "staging", actor: "bob", metadata: { tenant: "acme" } } },
    });
    const receipt = receiptIn(allowed.finalStep.providerMetadata);

    const events = auditEvents(vault);
    expect(events.map((event) => [event.kind, event.actor])).toEqual([
      ["policy_denied", "alice"],
      ["policy_denied", "local"],
      ["spend", "bob"],
    ]);
    expect(events[0]?.data).toMatchObject({ rule: "prod-frozen", scope: ["prod/eu"] });
    expect(events[2]?.data).toMatchObject({ scope: ["staging"], transferId: receipt.transferId });
    expect(await ledgerOf(vault)).toEqual({ posted: receipt.cost, pending: 0 });
  });

  it("replaces the model's default scope for one call", async () => {
    const { vault, engine } = await policyVault(policy.slice(0, policy.indexOf("- name: no-evil-tenant")));
    const model = governModel(openai().chat("gpt-4o-mini"), { engine, scope: "prod/us" });
    await expect(generateText({ model, prompt: "Say hello", maxOutputTokens: 100 })).rejects.toBeInstanceOf(
      PolicyDeniedError,
    );
    await generateText({
      model,
      prompt: "Say hello",
      maxOutputTokens: 100,
      providerOptions: { usertrust: { scope: "staging" } },
    });
    expect(kinds(vault)).toEqual(["policy_denied", "spend"]);
  });

  it("is removed from what the provider receives; other providerOptions still arrive", async () => {
    const { engine } = await governedVault();
    const model = governModel(openai().chat("gpt-4o-mini"), engine);
    const before = openaiServer.requests.length;
    await generateText({
      model,
      prompt: "Say hello",
      maxOutputTokens: 100,
      providerOptions: { usertrust: { scope: "staging", actor: "bob", metadata: { tenant: "acme" } } },
    });
    await generateText({
      model,
      prompt: "Say hello",
      maxOutputTokens: 100,
      providerOptions: { usertrust: { scope: "staging", actor: "bob" }, openai: { user: "user-42" } },
    });
    const [onlyOurs, withOpenAI] = openaiServer.requests.slice(before).map((request) => request.body);
    expect(Object.keys(onlyOurs as object).sort()).toEqual(["max_tokens", "messages", "model"]);
    expect(withOpenAI).toMatchObject({ user: "user-42" });
    for (const body of [onlyOurs, withOpenAI]) {
      const text = JSON.stringify(body);
      for (const leaked of ["usertrust", "providerOptions", "staging", "bob", "acme"])
        expect(text).not.toContain(leaked);
    }
  });
});

describe("usertrust/ai-sdk: withTrustContext", () => {
  it("applies to generateText and to a streamText opened inside it", async () => {
    const { vault, engine } = await governedVault();
    const model = governModel(openai().chat("gpt-4o-mini"), engine);
    await withTrustContext({ scope: "team/search", actor: "carol" }, async () => {
      await generateText({ model, prompt: "Say hello", maxOutputTokens: 100 });
    });
    // The stream is read after withTrustContext returned: the context is captured when it opens.
    const stream = withTrustContext({ actor: "dave" }, () =>
      streamText({ model, prompt: "Say hello", maxOutputTokens: 100 }),
    );
    await stream.consumeStream();
    const events = auditEvents(vault);
    expect(events.map((event) => [event.kind, event.actor, event.data.scope])).toEqual([
      ["spend", "carol", ["team/search"]],
      ["spend", "dave", undefined],
    ]);
  });
});

describe("usertrust/ai-sdk: structured output", () => {
  const schema = z.object({ name: z.string(), age: z.number() });

  it("governs generateText with Output.object, and the deprecated generateObject / streamObject", async () => {
    const { vault, engine } = await governedVault();
    openaiServer.setBehaviour({
      reply: '{"name":"Ada","age":36}',
      promptTokens: 10_000,
      completionTokens: 1_000,
    });
    const model = governModel(openai().chat("gpt-4o-mini"), engine);
    const before = openaiServer.requests.length;

    const text = await generateText({
      model,
      prompt: "Who?",
      maxOutputTokens: 10_000,
      output: Output.object({ schema }),
    });
    expect(text.output).toEqual({ name: "Ada", age: 36 });
    // The schema reached the provider (response_format), so the middleware did not drop it.
    expect(openaiServer.requests[before]?.body).toMatchObject({ response_format: { type: "json_schema" } });
    const receipts = [receiptIn(text.finalStep.providerMetadata)];

    const object = await generateObject({ model, prompt: "Who?", maxOutputTokens: 10_000, schema });
    expect(object.object).toEqual({ name: "Ada", age: 36 });
    receipts.push(receiptIn(object.providerMetadata));

    const streamed = streamObject({ model, prompt: "Who?", maxOutputTokens: 10_000, schema });
    for await (const _partial of streamed.partialObjectStream) {
      // read it all
    }
    expect(await streamed.object).toEqual({ name: "Ada", age: 36 });
    receipts.push(receiptIn(await streamed.providerMetadata));

    // 10,000 × $0.15/M + 1,000 × $0.60/M = 21 UT each.
    expect(receipts.map((receipt) => [receipt.cost, receipt.settled, receipt.usageSource])).toEqual([
      [21, true, "provider"],
      [21, true, "provider"],
      [21, true, "provider"],
    ]);
    expect(kinds(vault)).toEqual(["spend", "spend", "spend"]);
    expect(await ledgerOf(vault)).toEqual({ posted: 63, pending: 0 });
  });
});

describe("usertrust/ai-sdk: usertrustToolApproval", () => {
  const toolsPolicy =
    "- name: no-delete\n  effect: deny\n  enforcement: hard\n  severity: critical\n" +
    "  conditions:\n    - { field: tool_name, operator: eq, value: delete_everything }\n";

  /** The vault's shared engine (opened by the { vaultBase } options) is closed before the vault is removed. */
  function sharedVault(): Vault {
    const vault = makeTempVault({
      budget: 100_000,
      policies: ["policies/default.yml", "policies/tools.yml"],
    });
    writeFileSync(join(vault.paths.policiesDir, "tools.yml"), toolsPolicy);
    cleanups.push(async () => {
      await (await sharedEngine({ vaultBase: vault.base })).close();
      vault.cleanup();
    });
    return vault;
  }

  it("denies a tool by policy: execute never runs, the model gets an execution-denied result, the audit has approved:false", async () => {
    const vault = sharedVault();
    const options = { vaultBase: vault.base, actor: "agent-7" };
    openaiServer.setBehaviour({
      toolCall: { name: "delete_everything", arguments: '{"path":"/srv/secret-folder"}' },
    });
    const before = openaiServer.requests.length;
    let executed = 0;
    const result = await generateText({
      model: governModel(openai().chat("gpt-4o-mini"), options),
      prompt: "Clean up",
      maxOutputTokens: 1_000,
      stopWhen: stepCountIs(3),
      tools: {
        delete_everything: tool({
          inputSchema: z.object({ path: z.string() }),
          execute: async () => {
            executed += 1;
            return "deleted";
          },
        }),
      },
      toolApproval: usertrustToolApproval(options),
    });
    expect(executed).toBe(0);
    expect(result.steps).toHaveLength(2);
    const response = result.steps[0]?.content.find((part) => part.type === "tool-approval-response");
    expect(response).toMatchObject({ approved: false, reason: expect.stringContaining("no-delete") });
    // What the second model call was sent: the tool result is the denial, not an output.
    const toolResults = result.steps
      .flatMap((step) => step.response.messages)
      .filter((message) => message.role === "tool")
      .flatMap((message) => (Array.isArray(message.content) ? message.content : []));
    expect(toolResults).toContainEqual(
      expect.objectContaining({
        type: "tool-result",
        output: expect.objectContaining({ type: "execution-denied" }),
      }),
    );
    const second = openaiServer.requests[before + 1]?.body as {
      messages: Array<{ role: string; content: unknown }>;
    };
    expect(second.messages.find((message) => message.role === "tool")?.content).toContain("no-delete");

    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend", "tool_call", "spend"]);
    const toolCall = events[1];
    expect(toolCall).toMatchObject({
      actor: "agent-7",
      data: { toolName: "delete_everything", approved: false },
    });
    // The decision is logged, never the arguments.
    expect(JSON.stringify(toolCall)).not.toContain("secret-folder");
    expect(events.filter((event) => event.kind === "spend").every((event) => event.actor === "agent-7")).toBe(
      true,
    );
    expect(await ledgerOf(vault)).toEqual({ posted: runTotal(result.steps).cost, pending: 0 });
  });

  it("lets an allowed tool run and records approved:true", async () => {
    const vault = sharedVault();
    const options = { vaultBase: vault.base };
    openaiServer.setBehaviour({ toolCall: { name: "read_file", arguments: '{"path":"notes.txt"}' } });
    const read: string[] = [];
    const result = await generateText({
      model: governModel(openai().chat("gpt-4o-mini"), options),
      prompt: "Read my notes",
      maxOutputTokens: 1_000,
      stopWhen: stepCountIs(3),
      tools: {
        read_file: tool({
          inputSchema: z.object({ path: z.string() }),
          execute: async ({ path }) => {
            read.push(path);
            return "notes";
          },
        }),
      },
      toolApproval: usertrustToolApproval(options),
    });
    expect(read).toEqual(["notes.txt"]);
    expect(result.text).toBe("Hello from the stand-in.");
    const events = auditEvents(vault);
    expect(events.map((event) => event.kind)).toEqual(["spend", "tool_call", "spend"]);
    expect(events[1]?.data).toMatchObject({ toolName: "read_file", approved: true });
    expect(await ledgerOf(vault)).toEqual({ posted: runTotal(result.steps).cost, pending: 0 });
  });

  it("keeps the caller's context on every step of a stream read after withTrustContext returned", async () => {
    const vault = sharedVault();
    openaiServer.setBehaviour({ toolCall: { name: "read_file", arguments: '{"path":"notes.txt"}' } });
    const result = withTrustContext({ scope: "team-a/notes-bot", actor: "agent-9" }, () =>
      streamText({
        model: governModel(openai().chat("gpt-4o-mini"), { vaultBase: vault.base }),
        prompt: "Read my notes",
        maxOutputTokens: 1_000,
        stopWhen: stepCountIs(3),
        tools: {
          read_file: tool({ inputSchema: z.object({ path: z.string() }), execute: async () => "notes" }),
        },
      }),
    );
    // Read outside the context: the second step's model call starts while this loop runs.
    for await (const _part of result.fullStream) {
      // read to the end
    }
    const spends = auditEvents(vault).filter((event) => event.kind === "spend");
    expect(spends).toHaveLength(2);
    for (const spend of spends) {
      expect(spend.actor).toBe("agent-9");
      expect(spend.data.scope).toEqual(["team-a/notes-bot"]);
    }
  });
});

describe("usertrust/ai-sdk: governProvider and provider registries", () => {
  it("governs every language model of a provider, also through createProviderRegistry", async () => {
    const { vault, engine } = await governedVault();
    openaiServer.setBehaviour({ promptTokens: 10_000, completionTokens: 1_000 });
    anthropicServer.setBehaviour(ANTHROPIC_CACHED);
    const governedOpenAI = governProvider(openai(), engine);

    const direct = await generateText({
      model: governedOpenAI.languageModel("gpt-4o-mini"),
      prompt: "Say hello",
      maxOutputTokens: 10_000,
    });
    const registry = createProviderRegistry({
      openai: governedOpenAI,
      anthropic: governProvider(anthropic(), engine),
    });
    const viaRegistry = await generateText({
      model: registry.languageModel("openai:gpt-4o-mini"),
      prompt: "Say hello",
      maxOutputTokens: 10_000,
    });
    const claude = await generateText({
      model: registry.languageModel("anthropic:claude-sonnet-4-6"),
      prompt: "Say hello",
      maxOutputTokens: 10_000,
    });
    const receipts = [direct, viaRegistry, claude].map((result) =>
      receiptIn(result.finalStep.providerMetadata),
    );
    expect(receipts.map((receipt) => [receipt.provider, receipt.model, receipt.cost])).toEqual([
      ["openai", "gpt-4o-mini", 21],
      ["openai", "gpt-4o-mini", 21],
      ["anthropic", "claude-sonnet-4-6", ANTHROPIC_CACHED_UT],
    ]);
    expect(kinds(vault)).toEqual(["spend", "spend", "spend"]);
    expect(await ledgerOf(vault)).toEqual({ posted: 42 + ANTHROPIC_CACHED_UT, pending: 0 });
  });

  it("refuses a registry model call that does not fit the budget before the provider sees it", async () => {
    const { vault, engine } = await governedVault(5);
    const registry = createProviderRegistry({ openai: governProvider(openai(), engine) });
    const before = openaiServer.requests.length;
    await expect(
      generateText({
        model: registry.languageModel("openai:gpt-4o"),
        prompt: "Say hello",
        maxOutputTokens: 100_000,
      }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(openaiServer.requests.length).toBe(before);
    expect(kinds(vault)).toEqual(["budget_exceeded"]);
  });
});

describe("usertrust (the main entry point) without the AI SDK", () => {
  it("does not load `ai` or @ai-sdk/* when importing src/index.ts; usertrust/ai-sdk does", async () => {
    // A child process records every module Node loads (module.registerHooks, synchronous hooks in
    // Node ≥ 22.15) while it imports the main entry point, then the ai-sdk entry point as a control.
    const script = `
      import { registerHooks } from "node:module";
      const loaded = [];
      registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
      await import(process.argv[1]);
      const main = loaded.length;
      await import(process.argv[2]);
      console.log(JSON.stringify({ main: loaded.slice(0, main), aiSdk: loaded.slice(main) }));
    `;
    const root = resolve(import.meta.dirname, "../..");
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        "--experimental-strip-types",
        "--no-warnings",
        "--input-type=module",
        "-e",
        script,
        join(root, "src/index.ts"),
        join(root, "src/middleware/ai-sdk/index.ts"),
      ],
      { cwd: root, timeout: 20_000 },
    );
    const { main, aiSdk } = JSON.parse(stdout) as { main: string[]; aiSdk: string[] };
    const isAiSdk = (url: string) => /\/node_modules\/(ai|@ai-sdk\/[^/]+)\//.test(url);
    expect(main.some((url) => url.endsWith("/src/index.ts"))).toBe(true);
    expect(main.filter(isAiSdk)).toEqual([]);
    // The control: the same hook does see `ai` once usertrust/ai-sdk is imported.
    expect(aiSdk.some((url) => url.includes("/node_modules/ai/"))).toBe(true);
  });
});
