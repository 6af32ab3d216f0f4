import { describe, expect, it } from "vitest";
import { usageOfMessage } from "../../src/middleware/langchain/messages-request.ts";

// @langchain/anthropic passes the API's message fields (model, usage, …) on in response_metadata.
// A fast-mode call on Claude Opus 4.8 is billed at 2× (README "Pricing"); the settle must not fall
// back to the 6× "model not known" multiple when the model is right there in the metadata.
describe("LangChain + Anthropic fast mode", () => {
  it("prices a fast-mode Opus 4.8 reply at 200%, not the unknown-model 600%", () => {
    const usage = usageOfMessage({
      usage_metadata: { input_tokens: 1_000, output_tokens: 100, total_tokens: 1_100 },
      response_metadata: {
        model_provider: "anthropic",
        model: "claude-opus-4-8",
        usage: { input_tokens: 1_000, output_tokens: 100, speed: "fast" },
      },
    });
    expect(usage?.tokenRatePercent).toBe(200);
  });
});
