import { calcPrice } from "@pydantic/genai-prices";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TrustConfig } from "../../src/core/config.ts";
import { UnknownModelError } from "../../src/core/errors.ts";
import { costUsertokens, FALLBACK_RATE, PriceBook } from "../../src/core/price-book.ts";
import { makeUsage, type Usage } from "../../src/core/usage.ts";

/**
 * Expected costs are worked out by hand: 1 UT = $0.0001, so a tier costs
 * tokens × (USD per million tokens) / 100 usertokens, and the call's total is rounded up.
 */

type PriceConfig = Pick<TrustConfig, "pricing" | "unknownModel">;

function book(config: Partial<PriceConfig> = {}): PriceBook {
  return new PriceBook({ pricing: {}, unknownModel: "deny", ...config });
}

function usage(parts: Partial<Usage>): Usage {
  return makeUsage(parts);
}

function cost(
  provider: string,
  model: string,
  parts: Partial<Usage>,
  config: Partial<PriceConfig> = {},
): number {
  return costUsertokens(book(config).ratesFor(provider, model), usage(parts));
}

describe("the bundled price table still lists the prices these tests assume", () => {
  // If one of these fails the table changed upstream: update the hand-computed costs below with it.
  it.each([
    ["openai", "gpt-4o-mini", { input_mtok: 0.15, output_mtok: 0.6, cache_read_mtok: 0.075 }],
    ["openai", "gpt-4o", { input_mtok: 2.5, output_mtok: 10, cache_read_mtok: 1.25 }],
    [
      "anthropic",
      "claude-sonnet-4-6",
      { input_mtok: 3, output_mtok: 15, cache_write_mtok: 3.75, cache_read_mtok: 0.3 },
    ],
    [
      "google",
      "gemini-2.5-pro",
      {
        input_mtok: { base: 1.25, tiers: [{ start: 200_000, price: 2.5 }] },
        output_mtok: { base: 10, tiers: [{ start: 200_000, price: 15 }] },
        cache_read_mtok: { base: 0.125, tiers: [{ start: 200_000, price: 0.25 }] },
      },
    ],
    [
      "openai",
      "gpt-audio",
      { input_mtok: 2.5, output_mtok: 10, input_audio_mtok: 32, output_audio_mtok: 64 },
    ],
    ["openai", "gpt-5", { input_mtok: 1.25, output_mtok: 10, web_searches_kcount: 10 }],
    ["google", "gemini-2.5-flash-image", { input_mtok: 0.3, output_mtok: 2.5, output_image_mtok: 30 }],
    ["google", "gemini-3.1-flash-live-preview", { input_mtok: 0.75, input_image_mtok: 1 }],
  ])("%s %s", (provider, model, expected) => {
    const found = calcPrice({ input_tokens: 1, output_tokens: 1 }, model, { providerId: provider });
    expect(found?.model_price).toMatchObject(expected);
  });

  it("has no cache-write price for the OpenAI and Gemini models above", () => {
    for (const [provider, model] of [
      ["openai", "gpt-4o-mini"],
      ["openai", "gpt-4o"],
      ["google", "gemini-2.5-pro"],
    ] as const) {
      const found = calcPrice({ input_tokens: 1, output_tokens: 1 }, model, { providerId: provider });
      expect(found?.model_price.cache_write_mtok).toBeUndefined();
    }
  });
});

describe("costUsertokens for models in the bundled table", () => {
  it("prices gpt-4o-mini at $0.15 in / $0.60 out per million tokens", () => {
    // 1M × 0.15 / 100 = 1,500 UT; 1M × 0.60 / 100 = 6,000 UT.
    expect(cost("openai", "gpt-4o-mini", { inputTokens: 1_000_000, outputTokens: 1_000_000 })).toBe(7_500);
  });

  it("prices gpt-4o-mini cached reads at $0.075 and cache writes, which have no price of their own, as input", () => {
    // 2M × 0.075 / 100 = 1,500 UT; 1M × 0.15 / 100 = 1,500 UT.
    expect(cost("openai", "gpt-4o-mini", { cacheReadTokens: 2_000_000 })).toBe(1_500);
    expect(cost("openai", "gpt-4o-mini", { cacheWriteTokens: 1_000_000 })).toBe(1_500);
  });

  it("prices gpt-4o at $2.50 in / $10 out / $1.25 cached per million tokens", () => {
    // 1,000 × 2.5 / 100 = 25; 500 × 10 / 100 = 50; 2,000 × 1.25 / 100 = 25.
    expect(cost("openai", "gpt-4o", { inputTokens: 1_000, outputTokens: 500, cacheReadTokens: 2_000 })).toBe(
      100,
    );
  });

  it("prices a dated gpt-4o snapshot as gpt-4o", () => {
    const rates = book().ratesFor("openai", "gpt-4o-2024-08-06");
    expect(rates.pricedAs).toBe("gpt-4o");
    expect(rates.source).toBe("genai-prices");
    expect(rates.warning).toBeUndefined();
    expect(costUsertokens(rates, usage({ inputTokens: 1_000, outputTokens: 500 }))).toBe(75);
  });

  it("prices claude-sonnet-4-6 at $3 in / $15 out / $3.75 cache write / $0.30 cache read", () => {
    // 1,000 × 3 / 100 = 30; 1,000 × 15 / 100 = 150; 10,000 × 3.75 / 100 = 375; 100,000 × 0.3 / 100 = 300.
    expect(
      cost("anthropic", "claude-sonnet-4-6", {
        inputTokens: 1_000,
        outputTokens: 1_000,
        cacheWriteTokens: 10_000,
        cacheReadTokens: 100_000,
      }),
    ).toBe(855);
  });

  describe("gemini-2.5-pro's long-context tier", () => {
    it("uses the base rates up to and including 200k input tokens", () => {
      // 200,000 × 1.25 / 100 = 2,500; 1,000 × 10 / 100 = 100.
      expect(cost("google", "gemini-2.5-pro", { inputTokens: 200_000, outputTokens: 1_000 })).toBe(2_600);
    });

    it("bills every token at the higher rates once input exceeds 200k", () => {
      // 200,001 × 2.5 / 100 = 5,000.025; 1,000 × 15 / 100 = 150; total 5,150.025, rounded up.
      expect(cost("google", "gemini-2.5-pro", { inputTokens: 200_001, outputTokens: 1_000 })).toBe(5_151);
    });

    it("counts cached input toward the 200k threshold", () => {
      // Below: 150,000 × 1.25 / 100 = 1,875; 40,000 × 0.125 / 100 = 50; 1,000 × 10 / 100 = 100.
      expect(
        cost("google", "gemini-2.5-pro", {
          inputTokens: 150_000,
          cacheReadTokens: 40_000,
          outputTokens: 1_000,
        }),
      ).toBe(2_025);
      // Above: 150,000 × 2.5 / 100 = 3,750; 60,000 × 0.25 / 100 = 150; 1,000 × 15 / 100 = 150.
      expect(
        cost("google", "gemini-2.5-pro", {
          inputTokens: 150_000,
          cacheReadTokens: 60_000,
          outputTokens: 1_000,
        }),
      ).toBe(4_050);
    });
  });
});

describe("costUsertokens rounds up", () => {
  it("charges 1 UT for a single token of gpt-4o-mini", () => {
    // 1 × 0.15 / 100 = 0.0015 UT.
    expect(cost("openai", "gpt-4o-mini", { inputTokens: 1 })).toBe(1);
    expect(cost("openai", "gpt-4o-mini", { outputTokens: 1 })).toBe(1);
    expect(cost("openai", "gpt-4o-mini", { cacheReadTokens: 1 })).toBe(1);
  });

  it("charges nothing for no tokens", () => {
    expect(cost("openai", "gpt-4o-mini", {})).toBe(0);
    expect(cost("anthropic", "claude-sonnet-4-6", {})).toBe(0);
  });

  it("does not round an exact amount up", () => {
    // 40 × 2.5 / 100 = exactly 1 UT; 41 tokens = 1.025 UT.
    expect(cost("openai", "gpt-4o", { inputTokens: 40 })).toBe(1);
    expect(cost("openai", "gpt-4o", { inputTokens: 41 })).toBe(2);
  });

  it("rounds the call's total once, not each tier", () => {
    // 100 × 0.15 / 100 = 0.15 UT in + 100 × 0.60 / 100 = 0.6 UT out = 0.75 UT → 1; rounding each tier would give 2.
    expect(cost("openai", "gpt-4o-mini", { inputTokens: 100, outputTokens: 100 })).toBe(1);
  });

  it("is the smallest whole UT at or above the exact cost, for any gpt-4o-mini usage", () => {
    // Exact cost in units of 10^-8 UT: tokens × micro-USD per million tokens.
    const microUsdPerMTok = { input: 150_000n, output: 600_000n, cacheRead: 75_000n, cacheWrite: 150_000n };
    const rates = book().ratesFor("openai", "gpt-4o-mini");
    const tokens = fc.integer({ min: 0, max: 10_000_000 });
    fc.assert(
      fc.property(
        tokens,
        tokens,
        tokens,
        tokens,
        (inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens) => {
          const exact =
            BigInt(inputTokens) * microUsdPerMTok.input +
            BigInt(outputTokens) * microUsdPerMTok.output +
            BigInt(cacheReadTokens) * microUsdPerMTok.cacheRead +
            BigInt(cacheWriteTokens) * microUsdPerMTok.cacheWrite;
          const charged = BigInt(
            costUsertokens(rates, usage({ inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens })),
          );
          expect(charged * 100_000_000n >= exact).toBe(true);
          expect((charged - 1n) * 100_000_000n < exact || charged === 0n).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("costUsertokens stays exact for large token counts", () => {
  it("prices 50 million tokens each way on gpt-4o exactly", () => {
    // 50M × 2.5 / 100 = 1,250,000; 50M × 10 / 100 = 5,000,000.
    expect(cost("openai", "gpt-4o", { inputTokens: 50_000_000, outputTokens: 50_000_000 })).toBe(6_250_000);
  });

  it("prices 50 million tokens in every tier on claude-sonnet-4-6 exactly", () => {
    // 50M × (3 + 15 + 3.75 + 0.3) / 100 = 50M × 22.05 / 100 = 11,025,000.
    expect(
      cost("anthropic", "claude-sonnet-4-6", {
        inputTokens: 50_000_000,
        outputTokens: 50_000_000,
        cacheWriteTokens: 50_000_000,
        cacheReadTokens: 50_000_000,
      }),
    ).toBe(11_025_000);
  });

  it("still rounds a tiny fraction up on a huge count", () => {
    // 50,000,001 × 0.15 / 100 = 75,000.0015; 10^12 + 1 tokens × 0.15 / 100 = 1,500,000,000.0015.
    expect(cost("openai", "gpt-4o-mini", { inputTokens: 50_000_001 })).toBe(75_001);
    expect(cost("openai", "gpt-4o-mini", { inputTokens: 1_000_000_000_001 })).toBe(1_500_000_001);
  });
});

describe("config pricing overrides", () => {
  const pricing = { "gpt-4o-mini": { inputPerMTok: 1, outputPerMTok: 2 } };

  it("beat the bundled table", () => {
    const rates = book({ pricing }).ratesFor("openai", "gpt-4o-mini");
    expect(rates.source).toBe("config");
    // 1M × 1 / 100 = 10,000; 1M × 2 / 100 = 20,000.
    expect(costUsertokens(rates, usage({ inputTokens: 1_000_000, outputTokens: 1_000_000 }))).toBe(30_000);
  });

  it("bill cached tokens at the input rate unless cache prices are given", () => {
    expect(
      cost("openai", "gpt-4o-mini", { cacheReadTokens: 1_000_000, cacheWriteTokens: 1_000_000 }, { pricing }),
    ).toBe(20_000);
    const withCachePrices = {
      "gpt-4o-mini": { inputPerMTok: 1, outputPerMTok: 2, cacheReadPerMTok: 0.1, cacheWritePerMTok: 1.25 },
    };
    // 1M × 0.1 / 100 = 1,000; 1M × 1.25 / 100 = 12,500.
    expect(
      cost(
        "openai",
        "gpt-4o-mini",
        { cacheReadTokens: 1_000_000, cacheWriteTokens: 1_000_000 },
        { pricing: withCachePrices },
      ),
    ).toBe(13_500);
  });

  it("price a model the table does not know, even when unknown models are denied", () => {
    const rates = book({ pricing: { "my-local-model": { inputPerMTok: 0.5, outputPerMTok: 0.5 } } }).ratesFor(
      "openai",
      "my-local-model",
    );
    expect(rates.source).toBe("config");
    expect(rates.warning).toBeUndefined();
    // 2M × 0.5 / 100 = 10,000.
    expect(costUsertokens(rates, usage({ inputTokens: 1_000_000, outputTokens: 1_000_000 }))).toBe(10_000);
  });

  it("can make a model free", () => {
    const free = { "gpt-4o": { inputPerMTok: 0, outputPerMTok: 0 } };
    expect(
      cost("openai", "gpt-4o", { inputTokens: 1_000_000, outputTokens: 1_000_000 }, { pricing: free }),
    ).toBe(0);
  });
});

describe("models with no known price", () => {
  const unknown = "gpt-nonexistent-9000";

  it('are refused with UnknownModelError under "deny", naming the model and how to fix it', () => {
    const error = (() => {
      try {
        book({ unknownModel: "deny" }).ratesFor("openai", unknown);
        return undefined;
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(UnknownModelError);
    const unknownError = error as UnknownModelError;
    expect(unknownError.code).toBe("UNKNOWN_MODEL");
    expect(unknownError.model).toBe(unknown);
    expect(unknownError.provider).toBe("openai");
    expect(unknownError.message).toContain(`"${unknown}"`);
    expect(unknownError.message).toContain("pricing");
    expect(unknownError.message).toContain("unknownModel");
  });

  it('are refused every time they are asked for under "deny"', () => {
    const prices = book();
    expect(() => prices.ratesFor("openai", unknown)).toThrow(UnknownModelError);
    expect(() => prices.ratesFor("openai", unknown)).toThrow(UnknownModelError);
  });

  it("are looked up per provider", () => {
    expect(() => book().ratesFor("anthropic", "gpt-4o")).toThrow(UnknownModelError);
  });

  it('are priced at the fallback rate with a warning under "warn"', () => {
    const rates = book({ unknownModel: "warn" }).ratesFor("openai", unknown);
    expect(FALLBACK_RATE).toEqual({ inputPerMTok: 15, outputPerMTok: 75 });
    expect(rates.source).toBe("unknown-model-fallback");
    expect(rates.warning).toContain(unknown);
    // 1M × 15 / 100 = 150,000; 1M × 75 / 100 = 750,000.
    expect(costUsertokens(rates, usage({ inputTokens: 1_000_000, outputTokens: 1_000_000 }))).toBe(900_000);
    // Cached tokens of an unknown model are never cheaper than input.
    expect(costUsertokens(rates, usage({ cacheReadTokens: 1_000_000, cacheWriteTokens: 1_000_000 }))).toBe(
      300_000,
    );
  });

  it("are priced at the configured rate with a warning under { rate }", () => {
    const rates = book({ unknownModel: { rate: { inputPerMTok: 2, outputPerMTok: 4 } } }).ratesFor(
      "openai",
      unknown,
    );
    expect(rates.source).toBe("unknown-model-rate");
    expect(rates.warning).toContain(unknown);
    // 1M × 2 / 100 = 20,000; 1M × 4 / 100 = 40,000.
    expect(costUsertokens(rates, usage({ inputTokens: 1_000_000, outputTokens: 1_000_000 }))).toBe(60_000);
  });

  it("do not change how known models are priced", () => {
    const rates = book({ unknownModel: "warn" }).ratesFor("openai", "gpt-4o-mini");
    expect(rates.source).toBe("genai-prices");
    expect(rates.warning).toBeUndefined();
  });
});

describe("non-text tokens are priced at their modality's rates", () => {
  it("prices gpt-audio's audio parts at $32 in / $64 out and the rest at $2.50 / $10", () => {
    // 200 × 2.5 + 800 × 32 + 100 × 10 + 400 × 64 = 52,700 µ$ = 527 UT.
    expect(
      cost("openai", "gpt-audio", {
        inputTokens: 1_000,
        inputAudioTokens: 800,
        outputTokens: 500,
        outputAudioTokens: 400,
      }),
    ).toBe(527);
  });

  it("prices a modality the table has no rate for at the tier's text rate", () => {
    expect(cost("openai", "gpt-4o", { inputTokens: 1_000_000, inputAudioTokens: 1_000_000 })).toBe(
      cost("openai", "gpt-4o", { inputTokens: 1_000_000 }),
    );
  });

  it("prices cached media without a cache price of its own at the modality's input rate, not the text cache rate", () => {
    // gemini-3.1-flash-live-preview has no cache-read price: cached image tokens are image input, $1/M.
    expect(
      cost("google", "gemini-3.1-flash-live-preview", {
        cacheReadTokens: 1_000_000,
        cacheReadImageTokens: 1_000_000,
      }),
    ).toBe(10_000);
  });

  it("prices configured models' non-text tokens at the configured text rates", () => {
    const pricing = { "gpt-audio": { inputPerMTok: 1, outputPerMTok: 2 } };
    expect(
      cost("openai", "gpt-audio", { inputTokens: 1_000_000, inputAudioTokens: 1_000_000 }, { pricing }),
    ).toBe(10_000);
  });
});

describe("per-request fees and rate premiums", () => {
  it("charges web searches at the table's fee, $10 per 1,000 on gpt-5", () => {
    expect(cost("openai", "gpt-5", { webSearchRequests: 2 })).toBe(200);
  });

  it("charges web searches at $10 per 1,000 when the price has no fee", () => {
    const pricing = { "my-model": { inputPerMTok: 1, outputPerMTok: 2 } };
    expect(cost("openai", "my-model", { webSearchRequests: 1 }, { pricing })).toBe(100);
  });

  it("scales every token tier by the rate percentage, and no fee", () => {
    // claude-sonnet-4-6: 1,000 × 3 + 1,000 × 15 + 1,000 × 0.3 + 1,000 × 3.75 = 22,050 µ$; × 1.1 = 24,255 µ$ → 243 UT.
    const tokens = {
      inputTokens: 1_000,
      outputTokens: 1_000,
      cacheReadTokens: 1_000,
      cacheWriteTokens: 1_000,
    };
    expect(cost("anthropic", "claude-sonnet-4-6", tokens)).toBe(221);
    expect(cost("anthropic", "claude-sonnet-4-6", { ...tokens, tokenRatePercent: 110 })).toBe(243);
    expect(
      cost("anthropic", "claude-sonnet-4-6", { ...tokens, tokenRatePercent: 110, webSearchRequests: 1 }),
    ).toBe(343);
  });
});
