import { describe, expect, it } from "vitest";
import { anthropicTokenRatePercent } from "../../../src/core/surface/anthropic-rate-premiums.ts";

describe("anthropicTokenRatePercent", () => {
  it("is 100 for standard speed and global inference", () => {
    expect(anthropicTokenRatePercent("claude-opus-4-8", undefined, undefined)).toBe(100);
    expect(anthropicTokenRatePercent("claude-opus-4-8", "standard", "global")).toBe(100);
  });

  it("bills fast mode by the model: 6x on Opus 4.6 and 4.7, 2x on Opus 4.8 and the Opus 5 family", () => {
    expect(anthropicTokenRatePercent("claude-opus-4-6", "fast", undefined)).toBe(600);
    expect(anthropicTokenRatePercent("claude-opus-4-7-20260401", "fast", undefined)).toBe(600);
    expect(anthropicTokenRatePercent("claude-opus-4-8", "fast", undefined)).toBe(200);
    expect(anthropicTokenRatePercent("claude-opus-5", "fast", undefined)).toBe(200);
    expect(anthropicTokenRatePercent("claude-opus-5-5", "fast", undefined)).toBe(200);
  });

  it("bills fast mode on a model it does not list, or an unknown model, at the highest multiple", () => {
    expect(anthropicTokenRatePercent("claude-fable-5-2", "fast", undefined)).toBe(600);
    expect(anthropicTokenRatePercent(undefined, "fast", undefined)).toBe(600);
  });

  it("bills US-only inference at 1.1x, on top of fast mode", () => {
    expect(anthropicTokenRatePercent("claude-sonnet-4-6", undefined, "us")).toBe(110);
    expect(anthropicTokenRatePercent("claude-opus-4-8", "fast", "us")).toBe(220);
  });
});
