import { describe, expect, it } from "vitest";
import { usageFromV4 } from "../../src/middleware/ai-sdk/call-usage.ts";

// Through the AI SDK, @ai-sdk/anthropic's usage carries the API's own usage object as `raw` (the
// settle already reads its cache_creation from there). Its web searches (billed $10 / 1,000) and
// its US-only rate (1.1×) are dropped: the same call through the SDK adapter is charged both.
const raw = {
  input_tokens: 10_000,
  output_tokens: 1_000,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  server_tool_use: { web_search_requests: 3 },
  inference_geo: "us",
};

describe("AI SDK + Anthropic: searches and rate premiums", () => {
  it("charges the web searches and the US-only rate the raw usage reports", () => {
    const usage = usageFromV4({
      inputTokens: { total: 10_000, noCache: 10_000, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: 1_000, text: 1_000, reasoning: undefined },
      raw,
    } as never);
    expect(usage?.webSearchRequests).toBe(3);
    expect(usage?.tokenRatePercent).toBe(110);
  });
});
