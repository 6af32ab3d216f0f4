import { calcPrice } from "@pydantic/genai-prices";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { usageOfCompletion } from "../../src/adapters/openai/chat-usage.ts";
import { OPENAI_PREMIUM_TIER_UNLISTED_PERCENT } from "../../src/core/surface/openai-service-tiers.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tablePriceUsertokens } from "../support/price-table-oracle.ts";
import { chatCompletionBody, responseBody } from "../support/provider-bodies.ts";

// OpenAI bills a call at the rates of the service tier that served it, named by the response's
// `service_tier`. gpt-5 standard (the bundled table): $1.25 input, $10 output per million tokens;
// priority (https://openai.com/api-priority-processing/): $2.50 / $20, twice standard; flex is
// billed at Batch API rates, half of standard (https://developers.openai.com/api/docs/guides/flex-processing).
// 10,000 input + 1,000 output tokens: standard 12,500 + 10,000 µ$ = 225 UT; priority 25,000 +
// 20,000 µ$ = 450 UT; flex 112.5 UT, rounded up to 113.
const MODEL = "gpt-5";
const INPUT = 10_000;
const OUTPUT = 1_000;
const PRIORITY_USD_PER_MTOK = { input: 2.5, output: 20 };
/** µ$ per UT: 1 UT = $0.0001 = 100 µ$. */
const MICRO_USD_PER_UT = 100;
const PRIORITY_UT = Math.ceil(
  (INPUT * PRIORITY_USD_PER_MTOK.input + OUTPUT * PRIORITY_USD_PER_MTOK.output) / MICRO_USD_PER_UT,
);

const server = useFixedServer();

function governed() {
  return server.trusted((url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: "test", maxRetries: 0 }));
}

/** The hold the call's spend event records. */
function heldUsertokens(vault: { paths: { auditLog: string } }): number {
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return spend?.data.holdUsertokens as number;
}

/** The table's standard price of a usage in USD, unrounded, to scale by a tier's multiple. */
function standardUsd(model: string, usage: { input_tokens: number; output_tokens: number }): number {
  const price = calcPrice(usage, model, { providerId: "openai" });
  if (price === null) throw new Error(`no price for ${model}`);
  return price.total_price;
}

function completion(tier: string | null, model = MODEL, usage = { input: INPUT, output: OUTPUT }) {
  return chatCompletionBody({ model, tier, usage });
}

function completionChunks(tier: string) {
  const chunk = (fields: Record<string, unknown>) => ({
    data: {
      id: "chatcmpl_1",
      object: "chat.completion.chunk",
      created: 1,
      model: MODEL,
      service_tier: tier,
      ...fields,
    },
  });
  return [
    chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "hello" }, finish_reason: null }] }),
    chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
    chunk({
      choices: [],
      usage: { prompt_tokens: INPUT, completion_tokens: OUTPUT, total_tokens: INPUT + OUTPUT },
    }),
  ];
}

function response(tier: string | null, model = MODEL, usage = { input: INPUT, output: OUTPUT }) {
  return responseBody({ model, tier, usage });
}

const prompt = "Summarize the report";

describe("OpenAI service tiers are charged at the tier that served the call", () => {
  it("the oracle: priority is twice the table's standard price for gpt-5", () => {
    expect(PRIORITY_UT).toBe(450);
    expect(Math.ceil(2 * standardUsd(MODEL, { input_tokens: INPUT, output_tokens: OUTPUT }) * 10_000)).toBe(
      PRIORITY_UT,
    );
  });

  // Settling a whole chat completion reads `usageOf` in chat-completions.ts, which still passes only
  // `response.usage`: it needs `usageOf: usageOfCompletion` (chat-usage.ts) to see `service_tier`.
  it("chat.completions.create served at priority is charged the priority rates", async () => {
    const { client } = await governed();
    server.answer({ json: completion("priority") });
    const { receipt } = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: prompt }],
      service_tier: "priority",
    });
    expect(receipt.cost).toBe(PRIORITY_UT);
    await client.destroy();
  });

  it("a whole chat completion's usage is read at the tier it names", () => {
    expect(usageOfCompletion(completion("priority"))?.tokenRatePercent).toBe(200);
    expect(usageOfCompletion(completion("flex"))?.tokenRatePercent).toBe(50);
    expect(usageOfCompletion(completion("default"))?.tokenRatePercent).toBeUndefined();
  });

  it("a chat stream served at priority is charged the priority rates", async () => {
    const { client } = await governed();
    server.answer({ sse: completionChunks("priority"), done: true });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: prompt }],
      service_tier: "priority",
      stream: true,
    });
    for await (const _chunk of stream) {
      // drain
    }
    const receipt = await stream.receipt;
    expect(receipt.cost).toBe(PRIORITY_UT);
    expect(receipt.usage.tokenRatePercent).toBe(200);
    await client.destroy();
  });

  it("responses.create served at priority is charged the priority rates", async () => {
    const { client } = await governed();
    server.answer({ json: response("priority") });
    const { receipt } = await client.responses.create({
      model: MODEL,
      input: prompt,
      service_tier: "priority",
    });
    expect(receipt.cost).toBe(PRIORITY_UT);
    await client.destroy();
  });

  it("a Responses stream is charged at the tier its final response names", async () => {
    const { client } = await governed();
    const created = { ...response("auto"), status: "in_progress", output: [], usage: null };
    server.answer({
      sse: [
        {
          event: "response.created",
          data: { type: "response.created", sequence_number: 0, response: created },
        },
        {
          event: "response.completed",
          data: { type: "response.completed", sequence_number: 1, response: response("priority") },
        },
      ],
    });
    const stream = await client.responses.create({
      model: MODEL,
      input: prompt,
      service_tier: "priority",
      stream: true,
    });
    for await (const _event of stream) {
      // drain
    }
    expect((await stream.receipt).cost).toBe(PRIORITY_UT);
    await client.destroy();
  });

  it("a call served at flex is charged half the standard rates", async () => {
    const { client } = await governed();
    server.answer({ json: response("flex") });
    const { receipt } = await client.responses.create({ model: MODEL, input: prompt, service_tier: "flex" });
    const standard = tablePriceUsertokens("openai", MODEL, { input_tokens: INPUT, output_tokens: OUTPUT });
    expect(receipt.cost).toBe(Math.ceil(standard / 2));
    expect(receipt.usage.tokenRatePercent).toBe(50);
    await client.destroy();
  });

  it("a priority request the API served at the default tier is charged the standard rates", async () => {
    const { client } = await governed();
    server.answer({ json: response("default") });
    const { receipt } = await client.responses.create({
      model: MODEL,
      input: prompt,
      service_tier: "priority",
    });
    expect(receipt.cost).toBe(
      tablePriceUsertokens("openai", MODEL, { input_tokens: INPUT, output_tokens: OUTPUT }),
    );
    expect(receipt.usage.tokenRatePercent).toBeUndefined();
    await client.destroy();
  });

  it("an 'auto' request the project served at priority is charged the priority rates", async () => {
    const { client } = await governed();
    server.answer({ sse: completionChunks("priority"), done: true });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: prompt }],
      service_tier: "auto",
      stream: true,
    });
    for await (const _chunk of stream) {
      // drain
    }
    expect((await stream.receipt).cost).toBe(PRIORITY_UT);
    await client.destroy();
  });

  it("a model without a published priority price is charged the highest listed multiple, not standard", async () => {
    const model = "gpt-5-nano";
    const { client } = await governed();
    server.answer({ json: response("priority", model) });
    const { receipt } = await client.responses.create({ model, input: prompt, service_tier: "priority" });
    const standardUsdCost = standardUsd(model, { input_tokens: INPUT, output_tokens: OUTPUT });
    expect(receipt.usage.tokenRatePercent).toBe(OPENAI_PREMIUM_TIER_UNLISTED_PERCENT);
    expect(OPENAI_PREMIUM_TIER_UNLISTED_PERCENT).toBeGreaterThanOrEqual(200);
    expect(receipt.cost).toBe(
      Math.ceil((standardUsdCost * 10_000 * OPENAI_PREMIUM_TIER_UNLISTED_PERCENT) / 100 - 1e-9),
    );
    await client.destroy();
  });
});

describe("the hold of a priority request covers the call at the priority rates", () => {
  // The whole output cap used, billed at priority: a hold sized at standard would be short by half.
  const cap = 4_000;

  it("responses.create with service_tier: 'priority'", async () => {
    const { client, vault } = await governed();
    server.answer({ json: response("priority", MODEL, { input: 10, output: cap }) });
    const { receipt } = await client.responses.create({
      model: MODEL,
      input: prompt,
      service_tier: "priority",
      max_output_tokens: cap,
    });
    expect(receipt.warnings).toEqual([]);
    expect(heldUsertokens(vault)).toBeGreaterThanOrEqual(receipt.cost);
    await client.destroy();
  });

  it("chat.completions.create with service_tier: 'priority' (a stream)", async () => {
    const { client, vault } = await governed();
    const chunks = completionChunks("priority");
    const last = chunks.at(-1)?.data as Record<string, unknown>;
    last.usage = { prompt_tokens: 10, completion_tokens: cap, total_tokens: 10 + cap };
    server.answer({ sse: chunks, done: true });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: prompt }],
      service_tier: "priority",
      max_completion_tokens: cap,
      stream: true,
    });
    for await (const _chunk of stream) {
      // drain
    }
    const receipt = await stream.receipt;
    expect(receipt.warnings).toEqual([]);
    expect(heldUsertokens(vault)).toBeGreaterThanOrEqual(receipt.cost);
    await client.destroy();
  });

  it("a request without a tier is held at the standard rates", async () => {
    const { client: plain, vault: plainVault } = await governed();
    server.answer({ json: response("default", MODEL, { input: 10, output: cap }) });
    await plain.responses.create({ model: MODEL, input: prompt, max_output_tokens: cap });
    await plain.destroy();
    const { client, vault } = await governed();
    server.answer({ json: response("priority", MODEL, { input: 10, output: cap }) });
    await client.responses.create({
      model: MODEL,
      input: prompt,
      max_output_tokens: cap,
      service_tier: "priority",
    });
    await client.destroy();
    // Twice the standard hold, give or take the one rounding of each.
    expect(heldUsertokens(vault)).toBeGreaterThanOrEqual(2 * heldUsertokens(plainVault) - 1);
    expect(heldUsertokens(vault)).toBeLessThanOrEqual(2 * heldUsertokens(plainVault));
  });
});
