import Anthropic from "@anthropic-ai/sdk";
import { ChatOpenAI } from "@langchain/openai";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { receiptOf } from "../../src/adapters/receipt-trail.ts";
import { trust } from "../../src/adapters/trust.ts";
import type { TrustConfigInput } from "../../src/core/config.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import { governedChatModel } from "../../src/middleware/langchain/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README, pii redact: "the same value gets the same placeholder everywhere in the call". Placeholders
 * are numbered per call, so when the provider keeps the conversation (Responses
 * `previous_response_id` / `conversation`, Anthropic message threads) a later call would give
 * [EMAIL_1] to another value than the one the kept context already calls [EMAIL_1], and restore
 * would hand back the wrong one. Such a call, when it has personal data to redact, is refused with
 * PII_REDACT_SERVER_CONTEXT before anything is sent, and its hold released.
 */

let openai: OpenAIStandIn;
let anthropic: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  [openai, anthropic] = await Promise.all([startOpenAIStandIn(), startAnthropicStandIn()]);
});
afterAll(async () => {
  await Promise.all([openai.close(), anthropic.close()]);
});
afterEach(async () => {
  openai.setBehaviour({});
  anthropic.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const JANE = "jane.doe@example.com";
const BOB = "bob.smith@example.org";
const REDACT: Partial<TrustConfigInput> = { pii: { mode: "redact", restore: true } };
const REFUSED = { code: "PII_REDACT_SERVER_CONTEXT" };

async function openaiClient(receipts: TrustReceipt[], config = REDACT) {
  const vault = makeTempVault({ budget: 1_000_000 });
  const sdk = new OpenAI({ apiKey: "t", baseURL: `${openai.url}/v1`, maxRetries: 0 });
  const client = await trust(sdk, {
    vaultBase: vault.base,
    shape: "native",
    config,
    onReceipt: (receipt) => receipts.push(receipt),
  });
  cleanups.push(async () => {
    await client.destroy();
    vault.cleanup();
  });
  return client;
}

describe("Responses with previous_response_id, pii redact", () => {
  it("refuses a later turn with personal data before sending it, and releases its hold", async () => {
    const receipts: TrustReceipt[] = [];
    const client = await openaiClient(receipts);
    const first = await client.responses.create({ model: "gpt-4o-mini", input: `My email is ${JANE}.` });
    expect(JSON.stringify(openai.requests.at(-1)?.body)).toContain("[EMAIL_1]");
    const sent = openai.requests.length;
    const second = client.responses.create({
      model: "gpt-4o-mini",
      previous_response_id: first.id,
      input: `CC my manager ${BOB}. What is my own address?`,
    });
    await expect(second).rejects.toMatchObject(REFUSED);
    expect(openai.requests.length).toBe(sent);
    // The refused call holds nothing: the next one sees the budget the first one left.
    const third = await client.responses.create({
      model: "gpt-4o-mini",
      previous_response_id: first.id,
      input: "What did I just ask?",
    });
    const [firstReceipt, thirdReceipt] = [await receiptOf(first), await receiptOf(third)];
    expect(receipts).toEqual([firstReceipt, thirdReceipt]);
    expect(thirdReceipt.budgetRemaining).toBe(firstReceipt.budgetRemaining - thirdReceipt.cost);
  });

  it("lets a later turn without personal data through", async () => {
    const client = await openaiClient([]);
    const first = await client.responses.create({ model: "gpt-4o-mini", input: `My email is ${JANE}.` });
    const second = await client.responses.create({
      model: "gpt-4o-mini",
      previous_response_id: first.id,
      input: "Thanks.",
    });
    expect((await receiptOf(second)).settled).toBe(true);
  });

  it("refuses a turn of a conversation object too, streamed or not", async () => {
    const client = await openaiClient([]);
    const body = { model: "gpt-4o-mini", conversation: "conv_1", input: `CC ${BOB}.` };
    await expect(client.responses.create(body)).rejects.toMatchObject(REFUSED);
    await expect(client.responses.create({ ...body, stream: true })).rejects.toMatchObject(REFUSED);
  });

  it('with pii "warn", the same turn goes through', async () => {
    const client = await openaiClient([], { pii: "warn" });
    const first = await client.responses.create({ model: "gpt-4o-mini", input: `My email is ${JANE}.` });
    const second = await client.responses.create({
      model: "gpt-4o-mini",
      previous_response_id: first.id,
      input: `CC my manager ${BOB}.`,
    });
    expect((await receiptOf(second)).settled).toBe(true);
  });
});

describe("Anthropic message threads, pii redact", () => {
  it("the first turn is redacted and restored; a later turn with personal data is refused", async () => {
    const vault = makeTempVault({ budget: 1_000_000 });
    const sdk = new Anthropic({ apiKey: "t", baseURL: anthropic.url, maxRetries: 0 });
    const client = await trust(sdk, { vaultBase: vault.base, shape: "native", config: REDACT });
    cleanups.push(async () => {
      await client.destroy();
      vault.cleanup();
    });
    anthropic.setBehaviour({ reply: "Noted: [EMAIL_1]." });
    const thread = client.beta.messages.thread({ model: "claude-sonnet-4-6", max_tokens: 100 });
    const first = await thread.send({ role: "user", content: `My email is ${JANE}.` });
    expect(first.content).toEqual([{ type: "text", text: `Noted: ${JANE}.` }]);
    const sent = anthropic.requests.length;
    await expect(thread.send({ role: "user", content: `CC ${BOB}.` })).rejects.toMatchObject(REFUSED);
    expect(anthropic.requests.length).toBe(sent);
    // The refused turn has ended: the thread takes the next one.
    anthropic.setBehaviour({});
    await expect(thread.send({ role: "user", content: "Thanks." })).resolves.toBeDefined();
  });
});

describe("governedChatModel over ChatOpenAI's Responses API, pii redact", () => {
  it("refuses a call with personal data that continues previous_response_id", async () => {
    const vault = makeTempVault({ budget: 100_000, pii: { mode: "redact", restore: true } });
    const engine = await createEngine({ vaultBase: vault.base });
    cleanups.push(vault.cleanup);
    cleanups.push(() => engine.close());
    const inner = new ChatOpenAI({
      model: "gpt-4o-mini",
      apiKey: "test",
      configuration: { baseURL: `${openai.url}/v1` },
      maxRetries: 0,
      useResponsesApi: true,
    });
    const model = governedChatModel(inner, engine);
    const sent = openai.requests.length;
    await expect(
      model.invoke(`CC ${BOB}.`, { previous_response_id: "resp_1" } as never),
    ).rejects.toMatchObject(REFUSED);
    expect(openai.requests.length).toBe(sent);
    await expect(model.invoke(`CC ${BOB}.`)).resolves.toBeDefined();
  });
});
