import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tableUsertokens } from "../support/price-table-oracle.ts";

// GPT-5.6 bills prompt-cache writes at 1.25x the input rate, and the API reports them:
// Responses `usage.input_tokens_details.cache_write_tokens`, Chat Completions
// `usage.prompt_tokens_details.cache_write_tokens` (both part of the input count, like cached_tokens).
// The bundled table prices them: gpt-5.6-sol since 2026-08-21 is $4 input, $5 cache write,
// $0.40 cache read, $20 output per million tokens.
//
// 10,000 input tokens of which 8,000 written to the cache, 1,000 output:
//   2,000 × $4 + 8,000 × $5 + 1,000 × $20 = 8,000 + 40,000 + 20,000 µ$ = $0.068 = 680 UT.
// Priced as if the writes were plain input: 10,000 × $4 + 1,000 × $20 = 60,000 µ$ = 600 UT.
const MODEL = "gpt-5.6-sol";
const EXPECTED_UT = 680;

const server = useFixedServer();

async function governed() {
  return (await server.trusted((url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: "test", maxRetries: 0 })))
    .client;
}

const responsesUsage = {
  input_tokens: 10_000,
  input_tokens_details: {
    cached_tokens: 0,
    cache_write_tokens: 8_000,
    cache_write_tokens_details: { ttl_30m_tokens: 8_000, ttl_12h_tokens: 0 },
  },
  output_tokens: 1_000,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 11_000,
};

function responseBody(status = "completed") {
  return {
    id: "resp_1",
    object: "response",
    created_at: 1,
    status,
    model: MODEL,
    output: [
      {
        type: "message",
        id: "msg_1",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: "hi", annotations: [] }],
      },
    ],
    usage: responsesUsage,
  };
}

describe("OpenAI cache writes (GPT-5.6) are charged at the cache-write rate", () => {
  it("the oracle: the bundled table prices this Responses usage at 680 UT", () => {
    expect(tableUsertokens("openai", MODEL, "responses", { usage: responsesUsage })).toBe(EXPECTED_UT);
  });

  it("responses.create charges cache_write_tokens at the cache-write rate", async () => {
    const client = await governed();
    server.answer({ json: responseBody() });
    const { receipt } = await client.responses.create({
      model: MODEL,
      input: "Say hi",
      max_output_tokens: 100_000,
      prompt_cache_key: "k",
    });
    expect(receipt.cost).toBe(EXPECTED_UT);
    await client.destroy();
  });

  it("responses.create with stream: true charges the same", async () => {
    const client = await governed();
    server.answer({
      sse: [
        {
          event: "response.created",
          data: {
            type: "response.created",
            sequence_number: 0,
            response: { ...responseBody("in_progress"), usage: null, output: [] },
          },
        },
        {
          event: "response.output_text.delta",
          data: {
            type: "response.output_text.delta",
            sequence_number: 1,
            item_id: "msg_1",
            output_index: 0,
            content_index: 0,
            delta: "hi",
            logprobs: [],
          },
        },
        {
          event: "response.completed",
          data: { type: "response.completed", sequence_number: 2, response: responseBody() },
        },
      ],
    });
    const stream = await client.responses.create({
      model: MODEL,
      input: "Say hi",
      max_output_tokens: 100_000,
      stream: true,
    });
    for await (const _event of stream) {
      // drain
    }
    const receipt = await stream.receipt;
    expect(receipt.cost).toBe(EXPECTED_UT);
    await client.destroy();
  });

  it("chat.completions.create charges prompt_tokens_details.cache_write_tokens at the cache-write rate", async () => {
    const client = await governed();
    const usage = {
      prompt_tokens: 10_000,
      completion_tokens: 1_000,
      total_tokens: 11_000,
      prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 8_000 },
      completion_tokens_details: { reasoning_tokens: 0 },
    };
    expect(tableUsertokens("openai", MODEL, "chat", { usage })).toBe(EXPECTED_UT);
    server.answer({
      json: {
        id: "chatcmpl-1",
        object: "chat.completion",
        created: 1,
        model: MODEL,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: "hi", refusal: null },
            finish_reason: "stop",
            logprobs: null,
          },
        ],
        usage,
      },
    });
    const { receipt } = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Say hi" }],
      max_completion_tokens: 100_000,
    });
    expect(receipt.cost).toBe(EXPECTED_UT);
    await client.destroy();
  });
});
