import { describe, expect, it } from "vitest";
import { geminiRequestToGoverned } from "../../src/adapters/google/generate-request.ts";
import { usageFromGemini } from "../../src/adapters/google/generate-usage.ts";
import { holdTerms } from "../../src/core/hold-sizing.ts";
import { costUsertokens, PriceBook } from "../../src/core/price-book.ts";

// gemini-2.5-flash: text input $0.30/M, audio input $1.00/M (input_audio_mtok in the bundled table).
// 60 s of 16 kbit/s audio = 120,000 bytes: the request reader estimates 1,936 tokens (bytes / 62,
// 32 tokens/s, exactly what Gemini bills: 1,920 audio tokens). The settle prices them at the AUDIO
// rate (3.3× text), so the hold must hold media tokens at the dearest input rate, not the text one.
describe("gemini inline audio: hold vs cost", () => {
  it("holds at least what a call whose audio is the size the reader estimated costs", () => {
    const audio = Buffer.alloc(120_000, 7).toString("base64");
    const request = geminiRequestToGoverned(
      {
        model: "gemini-2.5-flash",
        contents: [
          {
            role: "user",
            parts: [{ text: "Transcribe." }, { inlineData: { mimeType: "audio/mp3", data: audio } }],
          },
        ],
        config: { maxOutputTokens: 200 },
      },
      "generateContent",
    );
    const rates = new PriceBook({ pricing: {}, unknownModel: "deny" }).ratesFor("google", "gemini-2.5-flash");
    const terms = holdTerms(request, rates, 4096, { transferId: "t", promptHash: "h" });

    // What Gemini reports for it: 1,920 audio tokens + 3 text tokens in, 200 tokens out.
    const usage = usageFromGemini({
      promptTokenCount: 1_923,
      candidatesTokenCount: 200,
      promptTokensDetails: [
        { modality: "TEXT", tokenCount: 3 },
        { modality: "AUDIO", tokenCount: 1_920 },
      ],
      candidatesTokensDetails: [{ modality: "TEXT", tokenCount: 200 }],
    });
    if (usage === undefined) throw new Error("Gemini usage was not read");
    const cost = costUsertokens(rates, usage);
    // 1,920 × $1/M + 3 × $0.30/M + 200 × $2.50/M = $0.0024209 = 24.2 → 25 UT (it was held at the
    // text input rate: 11 UT).
    expect(cost).toBe(25);
    expect(terms.holdUsertokens).toBeGreaterThanOrEqual(cost);
  });
});
