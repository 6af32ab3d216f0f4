import { describe, expect, it } from "vitest";
import { combineRatePercents, makeUsage, usageFromInclusiveCounts } from "../../src/core/usage.ts";

describe("makeUsage", () => {
  it("gives a plain text call the four tiers alone", () => {
    expect(
      makeUsage({ inputTokens: 10, outputTokens: 5, webSearchRequests: 0, tokenRatePercent: 100 }),
    ).toEqual({
      inputTokens: 10,
      outputTokens: 5,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
  });

  it("never lets a tier's modality parts add up to more than the tier", () => {
    const usage = makeUsage({
      inputTokens: 100,
      inputAudioTokens: 80,
      inputImageTokens: 50,
      outputTokens: 10,
      outputImageTokens: 99,
    });
    expect(usage).toMatchObject({ inputAudioTokens: 80, inputImageTokens: 20, outputImageTokens: 10 });
  });

  it("keeps web searches and a rate percentage other than 100, rounding a fractional rate up", () => {
    expect(makeUsage({ webSearchRequests: 3, tokenRatePercent: 110.2 })).toMatchObject({
      webSearchRequests: 3,
      tokenRatePercent: 111,
    });
  });
});

describe("usageFromInclusiveCounts", () => {
  it("takes cache reads and cache writes out of the input count", () => {
    expect(
      usageFromInclusiveCounts({ input: 10_000, cacheRead: 1_000, cacheWrite: 8_000, output: 5 }),
    ).toEqual({
      inputTokens: 1_000,
      outputTokens: 5,
      cacheReadTokens: 1_000,
      cacheWriteTokens: 8_000,
    });
  });

  it("splits a modality between uncached input and cache reads as the provider breaks it down", () => {
    const usage = usageFromInclusiveCounts({
      input: 1_000,
      cacheRead: 600,
      output: 0,
      inputMedia: { audio: 800 },
      cacheReadMedia: { audio: 500 },
    });
    expect(usage).toMatchObject({
      inputTokens: 400,
      inputAudioTokens: 300,
      cacheReadTokens: 600,
      cacheReadAudioTokens: 500,
    });
  });

  it("takes only what the counts force as cached media when the cached part is not broken down", () => {
    // 1,000 prompt tokens, 600 cached, 800 audio: at least 400 audio tokens must be among the cached.
    const usage = usageFromInclusiveCounts({
      input: 1_000,
      cacheRead: 600,
      output: 0,
      inputMedia: { audio: 800 },
    });
    expect(usage).toMatchObject({ inputTokens: 400, inputAudioTokens: 400, cacheReadAudioTokens: 400 });
    const roomy = usageFromInclusiveCounts({
      input: 1_000,
      cacheRead: 100,
      output: 0,
      inputMedia: { audio: 800 },
    });
    expect(roomy).toMatchObject({ inputTokens: 900, inputAudioTokens: 800 });
    expect(roomy.cacheReadAudioTokens).toBeUndefined();
  });

  it("clamps counts that contradict each other instead of inventing tokens", () => {
    const usage = usageFromInclusiveCounts({
      input: 100,
      cacheRead: 500,
      output: 0,
      inputMedia: { audio: 900 },
    });
    expect(usage).toMatchObject({ inputTokens: 0, cacheReadTokens: 100, cacheReadAudioTokens: 100 });
    expect(usage.inputAudioTokens).toBeUndefined();
  });
});

describe("combineRatePercents", () => {
  it("multiplies percentages, rounding up", () => {
    expect(combineRatePercents()).toBe(100);
    expect(combineRatePercents(200, 110)).toBe(220);
    expect(combineRatePercents(600, 110)).toBe(660);
    expect(combineRatePercents(110, 110)).toBe(121);
  });
});
