import { describe, expect, it } from "vitest";
import { usageOfMessage } from "../../src/middleware/langchain/messages-request.ts";

// @langchain/anthropic (ChatAnthropic({ inferenceGeo: "us" })):
// - invoke(): response_metadata = { ...the API message, model_provider }, so `usage` is the whole
//   API usage (input_tokens, inference_geo, server_tool_use…): usageFromAnthropic prices it at 110%.
// - stream(): message_start's chunk carries response_metadata.usage = the usage minus input/output
//   tokens (still inference_geo "us"); usageOfMessage then takes usage_metadata and drops the rate.
// The same call streamed is charged 100%, non-streamed 110%.
const apiUsage = {
  input_tokens: 10_000,
  output_tokens: 1_000,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  inference_geo: "us",
  service_tier: "standard",
};

describe("LangChain + Anthropic: a stream is charged like the same call non-streamed", () => {
  it("inference_geo us: the streamed message keeps the 110% rate", () => {
    const whole = usageOfMessage({
      usage_metadata: { input_tokens: 10_000, output_tokens: 1_000, total_tokens: 11_000 },
      response_metadata: { model_provider: "anthropic", model: "claude-sonnet-4-6", usage: apiUsage },
    });
    const { input_tokens: _i, output_tokens: _o, ...rest } = apiUsage;
    const streamed = usageOfMessage({
      usage_metadata: { input_tokens: 10_000, output_tokens: 1_000, total_tokens: 11_000 },
      response_metadata: { model_provider: "anthropic", usage: rest },
    });
    expect(whole?.tokenRatePercent).toBe(110);
    expect(streamed?.tokenRatePercent).toBe(110);
  });
});
