import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tablePriceUsertokens } from "../support/price-table-oracle.ts";

// The Responses API's built-in web_search tool is billed per call ($10 per 1,000 calls; the bundled
// table's `web_searches_kcount: 10` for gpt-5), on top of tokens. Each call is a `web_search_call`
// item in the response's output. gpt-5: $1.25 input, $10 output per million tokens.
// 2,000 input + 500 output = 2,500 + 5,000 µ$ = 75 UT, plus 2 searches × $0.01 = 200 UT → 275 UT.
const MODEL = "gpt-5";
const EXPECTED_UT = 275;

const server = useFixedServer();

const search = (id: string, query: string) => ({
  type: "web_search_call",
  id,
  status: "completed",
  action: { type: "search", query },
});

const USAGE = {
  input_tokens: 2_000,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 500,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 2_500,
};

function responseBody(status: string) {
  return {
    id: "resp_1",
    object: "response",
    created_at: 1,
    status,
    model: MODEL,
    output: [
      search("ws_1", "news today"),
      search("ws_2", "weather today"),
      {
        type: "message",
        id: "msg_1",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: "Here is the news.", annotations: [] }],
      },
    ],
    usage: USAGE,
  };
}

function governed() {
  return server.trusted((url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: "test", maxRetries: 0 }));
}

/** The hold the call's spend event records. */
function heldUsertokens(vault: { paths: { auditLog: string } }): number {
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return spend?.data.holdUsertokens as number;
}

describe("OpenAI Responses web_search calls are charged", () => {
  it("the oracle: the bundled table prices 2,000 in, 500 out and 2 searches at 275 UT", () => {
    expect(
      tablePriceUsertokens("openai", MODEL, { input_tokens: 2_000, output_tokens: 500, web_searches: 2 }),
    ).toBe(EXPECTED_UT);
  });

  it("responses.create charges each web_search_call in the output", async () => {
    const { client } = await governed();
    server.answer({ json: responseBody("completed") });
    const { receipt } = await client.responses.create({
      model: MODEL,
      tools: [{ type: "web_search" }],
      input: "What is in the news today?",
      max_output_tokens: 100_000,
    });
    expect(receipt.cost).toBe(EXPECTED_UT);
    expect(receipt.usage.webSearchRequests).toBe(2);
    await client.destroy();
  });

  it("a stream charges the web_search_call items of its final response", async () => {
    const { client } = await governed();
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
          event: "response.completed",
          data: { type: "response.completed", sequence_number: 1, response: responseBody("completed") },
        },
      ],
    });
    const stream = await client.responses.create({
      model: MODEL,
      tools: [{ type: "web_search" }],
      input: "What is in the news today?",
      max_output_tokens: 100_000,
      stream: true,
    });
    for await (const _event of stream) {
      // drain
    }
    expect((await stream.receipt).cost).toBe(EXPECTED_UT);
    await client.destroy();
  });

  it("the hold covers max_tool_calls searches", async () => {
    const { client, vault } = await governed();
    server.answer({ json: responseBody("completed") });
    await client.responses.create({
      model: MODEL,
      tools: [{ type: "web_search" }],
      max_tool_calls: 2,
      input: "What is in the news today?",
      max_output_tokens: 500,
    });
    // 2 × $0.01 = 200 UT in search fees, plus 500 output tokens at $10/M = 50 UT.
    expect(heldUsertokens(vault)).toBeGreaterThanOrEqual(250);
    await client.destroy();
  });

  it("the hold of a web search with no max_tool_calls assumes 10 searches", async () => {
    const { client, vault } = await governed();
    server.answer({ json: responseBody("completed") });
    await client.responses.create({
      model: MODEL,
      tools: [{ type: "web_search" }],
      input: "What is in the news today?",
      max_output_tokens: 500,
    });
    // 10 × $0.01 = 1,000 UT in search fees, plus 50 UT of output.
    expect(heldUsertokens(vault)).toBeGreaterThanOrEqual(1_050);
    await client.destroy();
  });
});

// File search (vector stores) is billed per call too: $2.50 per 1,000 on gpt-5 (the table's
// storage_searches_kcount). 2,000 in, 500 out and 2 file searches: 75 + 2 × 25 = 125 UT.
describe("OpenAI Responses file_search calls are charged", () => {
  const fileSearch = (id: string) => ({ type: "file_search_call", id, status: "completed", queries: ["q"] });

  it("the oracle: the bundled table prices 2 file searches at 50 UT above the tokens", () => {
    const tokens = tablePriceUsertokens("openai", MODEL, { input_tokens: 2_000, output_tokens: 500 });
    const both = { input_tokens: 2_000, output_tokens: 500, storage_searches: 2 };
    expect(tablePriceUsertokens("openai", MODEL, both) - tokens).toBe(50);
  });

  it("responses.create charges each file_search_call, and the hold covers max_tool_calls of them", async () => {
    const { client, vault } = await governed();
    const body = responseBody("completed");
    server.answer({ json: { ...body, output: [fileSearch("fs_1"), fileSearch("fs_2"), body.output[2]] } });
    const { receipt } = await client.responses.create({
      model: MODEL,
      tools: [{ type: "file_search", vector_store_ids: ["vs_1"] }],
      max_tool_calls: 2,
      input: "What does the handbook say about leave?",
      max_output_tokens: 500,
    });
    expect(receipt.usage.fileSearchRequests).toBe(2);
    expect(receipt.cost).toBe(125);
    // 2 × $0.0025 = 50 UT in fees, plus 500 output tokens at $10/M = 50 UT.
    expect(heldUsertokens(vault)).toBeGreaterThanOrEqual(100);
  });
});
