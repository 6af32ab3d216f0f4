import Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tableUsertokens } from "../support/price-table-oracle.ts";

const server = useFixedServer();

function governed() {
  return server.trusted((url) => new Anthropic({ baseURL: url, apiKey: "test", maxRetries: 0 }));
}

/** The hold the call's spend event records. */
function heldUsertokens(vault: { paths: { auditLog: string } }): number {
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return spend?.data.holdUsertokens as number;
}

type CallParams = Omit<Anthropic.MessageCreateParamsNonStreaming, "model" | "max_tokens" | "messages">;

/** One call of `model` answered with `usage`: its receipt, and the hold its spend event records. */
async function call(model: string, params: CallParams, usage: Record<string, unknown>, maxTokens = 8_000) {
  const { client, vault } = await governed();
  server.answer({ json: message(model, { input_tokens: 1_000, output_tokens: 1_000, ...usage }) });
  const { receipt } = await client.messages.create({
    model,
    max_tokens: maxTokens,
    messages: [{ role: "user", content: "Refactor this" }],
    ...params,
  });
  return { receipt, held: heldUsertokens(vault) };
}

function message(model: string, usage: Record<string, unknown>) {
  return {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model,
    content: [{ type: "text", text: "hello", citations: null }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: {
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: null,
      server_tool_use: null,
      service_tier: "standard",
      ...usage,
    },
  };
}

// Web search: $10 per 1,000 searches on top of tokens (Anthropic pricing; the bundled table's
// `web_searches_kcount: 10` for claude-sonnet-4-6), reported in usage.server_tool_use.web_search_requests.
// 2,000 input × $3 + 500 output × $15 = 13,500 µ$ = 135 UT, plus 3 searches × $0.01 = 300 UT → 435 UT.
const SEARCH_MODEL = "claude-sonnet-4-6";
const SEARCH_USAGE = {
  input_tokens: 2_000,
  output_tokens: 500,
  server_tool_use: { web_search_requests: 3, web_fetch_requests: 0 },
};
const SEARCH_EXPECTED_UT = 435;
const searchTool = { type: "web_search_20250305" as const, name: "web_search" as const, max_uses: 3 };

describe("Anthropic server tool use: web search requests are charged", () => {
  it("the oracle: the bundled table prices this usage at 435 UT", () => {
    expect(tableUsertokens("anthropic", SEARCH_MODEL, "default", { usage: SEARCH_USAGE })).toBe(
      SEARCH_EXPECTED_UT,
    );
  });

  it("messages.create charges $10 per 1,000 web searches", async () => {
    const { client } = await governed();
    server.answer({ json: message(SEARCH_MODEL, SEARCH_USAGE) });
    const { receipt } = await client.messages.create({
      model: SEARCH_MODEL,
      max_tokens: 8_000,
      tools: [searchTool],
      messages: [{ role: "user", content: "What happened today?" }],
    });
    expect(receipt.cost).toBe(SEARCH_EXPECTED_UT);
    await client.destroy();
  });

  it("a messages stream charges the searches message_delta reports", async () => {
    const { client } = await governed();
    const start = message(SEARCH_MODEL, { input_tokens: 2_000, output_tokens: 1 });
    server.answer({
      sse: [
        {
          event: "message_start",
          data: { type: "message_start", message: { ...start, content: [], stop_reason: null } },
        },
        {
          event: "content_block_start",
          data: {
            type: "content_block_start",
            index: 0,
            content_block: { type: "text", text: "", citations: null },
          },
        },
        {
          event: "content_block_delta",
          data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "hello" } },
        },
        { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
        {
          event: "message_delta",
          data: {
            type: "message_delta",
            delta: { stop_reason: "end_turn", stop_sequence: null },
            usage: { ...SEARCH_USAGE, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
          },
        },
        { event: "message_stop", data: { type: "message_stop" } },
      ],
    });
    const stream = await client.messages.create({
      model: SEARCH_MODEL,
      max_tokens: 8_000,
      tools: [searchTool],
      stream: true,
      messages: [{ role: "user", content: "What happened today?" }],
    });
    for await (const _event of stream) {
      // drain
    }
    expect((await stream.receipt).cost).toBe(SEARCH_EXPECTED_UT);
    await client.destroy();
  });

  it("the hold of a call allowed 3 web searches covers their fees", async () => {
    const { client, vault } = await governed();
    server.answer({ json: message(SEARCH_MODEL, SEARCH_USAGE) });
    await client.messages.create({
      model: SEARCH_MODEL,
      max_tokens: 500,
      tools: [searchTool],
      messages: [{ role: "user", content: "What happened today?" }],
    });
    // max_uses: 3 → up to 3 × $0.01 = 300 UT in search fees alone, besides the tokens.
    expect(heldUsertokens(vault)).toBeGreaterThanOrEqual(300);
    await client.destroy();
  });

  it("the hold of a call whose web search tool has no max_uses assumes 10 searches", async () => {
    const { client, vault } = await governed();
    server.answer({ json: message(SEARCH_MODEL, SEARCH_USAGE) });
    const request = {
      model: SEARCH_MODEL,
      max_tokens: 500,
      messages: [{ role: "user" as const, content: "What happened today?" }],
    };
    await client.messages.create({
      ...request,
      tools: [{ type: "web_search_20250305", name: "web_search" }],
    });
    const uncapped = heldUsertokens(vault);
    const { client: plain, vault: plainVault } = await governed();
    await plain.messages.create(request);
    // 10 × $0.01 = 1,000 UT above the same call without the tool (plus the tool definition's bytes).
    expect(uncapped - heldUsertokens(plainVault)).toBeGreaterThanOrEqual(1_000);
    expect(uncapped - heldUsertokens(plainVault)).toBeLessThan(1_010);
    await client.destroy();
    await plain.destroy();
  });
});

// Fast mode (speed: "fast", reported back in usage.speed): Opus 4.8 is billed at 2x its standard
// rates, $10 / $50 per million input / output tokens (Anthropic pricing, fast-mode section; the
// table's own "claude-opus-4.8-fast" entry under another provider has the same $10/$50).
// 1,000 input + 1,000 output: 10,000 + 50,000 µ$ = 600 UT (standard rates: 300 UT).
describe("Anthropic fast mode is charged at the fast-mode rates", () => {
  it("messages.create with speed: 'fast' on claude-opus-4-8 charges 2x", async () => {
    const { receipt } = await call("claude-opus-4-8", { speed: "fast" }, { speed: "fast" });
    expect(receipt.cost).toBe(600);
  });

  it("the hold of a fast-mode call covers its output cap at the fast-mode rate", async () => {
    const { held } = await call(
      "claude-opus-4-8",
      { speed: "fast" },
      { input_tokens: 10, speed: "fast" },
      1_000,
    );
    // 1,000 output tokens at $50/M = 500 UT.
    expect(held).toBeGreaterThanOrEqual(500);
  });

  it("a fast-mode stream is charged at the speed message_start reports", async () => {
    const { client } = await governed();
    const start = message("claude-opus-4-8", { input_tokens: 1_000, output_tokens: 1, speed: "fast" });
    server.answer({
      sse: [
        {
          event: "message_start",
          data: { type: "message_start", message: { ...start, content: [], stop_reason: null } },
        },
        {
          event: "message_delta",
          data: {
            type: "message_delta",
            delta: { stop_reason: "end_turn", stop_sequence: null },
            usage: { output_tokens: 1_000 },
          },
        },
        { event: "message_stop", data: { type: "message_stop" } },
      ],
    });
    const stream = await client.messages.create({
      model: "claude-opus-4-8",
      max_tokens: 8_000,
      speed: "fast",
      stream: true,
      messages: [{ role: "user", content: "Refactor this" }],
    });
    for await (const _event of stream) {
      // drain
    }
    expect((await stream.receipt).cost).toBe(600);
    await client.destroy();
  });

  it("fast mode on claude-opus-4-6 is charged 6x ($30 / $150 per million)", async () => {
    const { receipt } = await call("claude-opus-4-6", { speed: "fast" }, { speed: "fast" });
    // (1,000 × $5 + 1,000 × $25) × 6 = 180,000 µ$ = 1,800 UT.
    expect(receipt.cost).toBe(1_800);
    expect(receipt.usage.tokenRatePercent).toBe(600);
  });

  it("a fast request the API served at standard speed is charged the standard rates", async () => {
    const { receipt } = await call("claude-opus-4-8", { speed: "fast" }, { speed: "standard" });
    expect(receipt.cost).toBe(300);
    expect(receipt.usage.tokenRatePercent).toBeUndefined();
  });

  it("web search fees are not scaled by fast mode", async () => {
    const usage = { speed: "fast", server_tool_use: { web_search_requests: 1 } };
    const { receipt } = await call("claude-opus-4-8", { speed: "fast", tools: [searchTool] }, usage);
    // 600 UT of tokens at 2x, plus one search at $0.01 = 100 UT.
    expect(receipt.cost).toBe(700);
  });
});

// US-only inference (inference_geo: "us", reported back in usage.inference_geo) is billed at 1.1x
// standard rates for Claude Opus 4.6, Sonnet 4.6 and later (Anthropic data-residency pricing).
// claude-sonnet-4-6, 1,000 input + 1,000 output: (3,000 + 15,000) × 1.1 = 19,800 µ$ = 198 UT (standard: 180).
describe("Anthropic US-only inference is charged at 1.1x", () => {
  it("messages.create with inference_geo: 'us' charges 1.1x", async () => {
    const { receipt } = await call("claude-sonnet-4-6", { inference_geo: "us" }, { inference_geo: "us" });
    expect(receipt.cost).toBe(198);
  });

  it("the hold of a US-only call covers its output cap at 1.1x", async () => {
    const usage = { input_tokens: 10, inference_geo: "us" };
    const { held } = await call("claude-sonnet-4-6", { inference_geo: "us" }, usage, 1_000);
    // 1,000 output tokens at $15/M × 1.1 = 165 UT.
    expect(held).toBeGreaterThanOrEqual(165);
  });

  it("fast mode and US-only inference together are charged 2.2x", async () => {
    const both = { speed: "fast", inference_geo: "us" } as const;
    const { receipt } = await call("claude-opus-4-8", both, both);
    // 30,000 µ$ at standard rates × 2.2 = 66,000 µ$ = 660 UT.
    expect(receipt.cost).toBe(660);
  });
});
