import { GoogleGenAI } from "@google/genai";
import { describe, expect, it } from "vitest";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tableUsertokens } from "../support/price-table-oracle.ts";

// Gemini bills tokens by modality and reports the split in usageMetadata.promptTokensDetails /
// candidatesTokensDetails / cacheTokensDetails ([{ modality, tokenCount }]). The bundled table has
// the per-modality rates:
//   gemini-2.5-flash: text input $0.30, audio input $1.00, cached audio $0.10, output $2.50 / M.
//   gemini-2.5-flash-image: input $0.30, text output $2.50, image output $30 / M.

const server = useFixedServer();

async function governed() {
  return (await trustedGemini()).client;
}

function trustedGemini() {
  return server.trusted((url) => new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: url } }));
}

function answer(text: string, usageMetadata: unknown, modelVersion: string) {
  return {
    candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
    usageMetadata,
    modelVersion,
  };
}

// Audio input: 10,000 prompt tokens of which 9,600 audio, 200 output tokens.
//   400 × 0.30 + 9,600 × 1.00 + 200 × 2.50 = 120 + 9,600 + 500 = 10,220 µ$ → 103 UT (rounded up).
// All at the text rate: 10,000 × 0.30 + 500 = 3,500 µ$ = 35 UT.
const AUDIO_USAGE = {
  promptTokenCount: 10_000,
  candidatesTokenCount: 200,
  totalTokenCount: 10_200,
  promptTokensDetails: [
    { modality: "TEXT", tokenCount: 400 },
    { modality: "AUDIO", tokenCount: 9_600 },
  ],
  candidatesTokensDetails: [{ modality: "TEXT", tokenCount: 200 }],
};
const AUDIO_EXPECTED_UT = 103;

// Image output (gemini-2.5-flash-image): 20 prompt tokens, 1,300 candidate tokens of which 1,290
// are the image. 20 × 0.30 + 10 × 2.50 + 1,290 × 30 = 6 + 25 + 38,700 = 38,731 µ$ → 388 UT.
// All at the text output rate: 6 + 1,300 × 2.50 = 3,256 µ$ → 33 UT.
const IMAGE_USAGE = {
  promptTokenCount: 20,
  candidatesTokenCount: 1_300,
  totalTokenCount: 1_320,
  promptTokensDetails: [{ modality: "TEXT", tokenCount: 20 }],
  candidatesTokensDetails: [
    { modality: "TEXT", tokenCount: 10 },
    { modality: "IMAGE", tokenCount: 1_290 },
  ],
};
const IMAGE_EXPECTED_UT = 388;

const audioContents = [
  {
    role: "user",
    parts: [
      { text: "Transcribe this." },
      { inlineData: { mimeType: "audio/wav", data: "UklGRiQAAABXQVZF" } },
    ],
  },
];

describe("Gemini tokens are charged at their modality's rate", () => {
  it("the oracle: the bundled table prices these usages at 103 UT and 388 UT", () => {
    expect(tableUsertokens("google", "gemini-2.5-flash", "default", { usageMetadata: AUDIO_USAGE })).toBe(
      AUDIO_EXPECTED_UT,
    );
    expect(
      tableUsertokens("google", "gemini-2.5-flash-image", "default", { usageMetadata: IMAGE_USAGE }),
    ).toBe(IMAGE_EXPECTED_UT);
  });

  it("generateContent with audio input charges the audio tokens at the audio input rate", async () => {
    const client = await governed();
    server.answer({ json: answer("hello", AUDIO_USAGE, "gemini-2.5-flash") });
    const { receipt } = await client.models.generateContent({
      model: "gemini-2.5-flash",
      contents: audioContents,
      config: { maxOutputTokens: 60_000 },
    });
    expect(receipt.cost).toBe(AUDIO_EXPECTED_UT);
    await client.destroy();
  });

  it("generateContentStream with audio input charges the same", async () => {
    const client = await governed();
    server.answer({
      sse: [
        { data: answer("hel", { ...AUDIO_USAGE, candidatesTokenCount: 100 }, "gemini-2.5-flash") },
        { data: answer("lo", AUDIO_USAGE, "gemini-2.5-flash") },
      ],
    });
    const stream = await client.models.generateContentStream({
      model: "gemini-2.5-flash",
      contents: audioContents,
      config: { maxOutputTokens: 60_000 },
    });
    for await (const _chunk of stream) {
      // drain
    }
    expect((await stream.receipt).cost).toBe(AUDIO_EXPECTED_UT);
    await client.destroy();
  });

  it("generateContent that returns an image charges the image tokens at the image output rate", async () => {
    const client = await governed();
    server.answer({ json: answer("Here it is", IMAGE_USAGE, "gemini-2.5-flash-image") });
    const { receipt } = await client.models.generateContent({
      model: "gemini-2.5-flash-image",
      contents: "Draw a cat",
      config: { maxOutputTokens: 60_000 },
    });
    expect(receipt.cost).toBe(IMAGE_EXPECTED_UT);
    await client.destroy();
  });

  it("the hold of an image-generating call covers the most it can cost", async () => {
    const { client, vault } = await trustedGemini();
    server.answer({ json: answer("Here it is", IMAGE_USAGE, "gemini-2.5-flash-image") });
    // The caller caps output at 1,300 tokens: one 1,290-token image (plus a few words) fits under
    // the cap, and costs 388 UT at the image output rate. The hold prices the cap at $2.50/M.
    await client.models.generateContent({
      model: "gemini-2.5-flash-image",
      contents: "Draw a cat",
      config: { maxOutputTokens: 1_300 },
    });
    const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
    expect(spend?.data.holdUsertokens as number).toBeGreaterThanOrEqual(IMAGE_EXPECTED_UT);
    await client.destroy();
  });

  it("charges cached audio (cacheTokensDetails) at the cached-audio rate", async () => {
    // 10,000 prompt tokens: 9,600 audio of which 8,000 cached, 400 text; 200 output tokens.
    //   400 × 0.30 + 1,600 × 1.00 + 8,000 × 0.10 + 200 × 2.50 = 120 + 1,600 + 800 + 500 = 3,020 µ$ → 31 UT.
    const cached = {
      ...AUDIO_USAGE,
      cachedContentTokenCount: 8_000,
      cacheTokensDetails: [{ modality: "AUDIO", tokenCount: 8_000 }],
    };
    expect(tableUsertokens("google", "gemini-2.5-flash", "default", { usageMetadata: cached })).toBe(31);
    const client = await governed();
    server.answer({ json: answer("hello", cached, "gemini-2.5-flash") });
    const { receipt } = await client.models.generateContent({
      model: "gemini-2.5-flash",
      contents: audioContents,
      config: { maxOutputTokens: 60_000 },
    });
    expect(receipt.cost).toBe(31);
    expect(receipt.usage).toMatchObject({ inputAudioTokens: 1_600, cacheReadAudioTokens: 8_000 });
    await client.destroy();
  });

  it("the hold of an image model asked for text only covers its output cap at the text rate", async () => {
    const { client, vault } = await trustedGemini();
    server.answer({
      json: answer("A cat.", { promptTokenCount: 20, candidatesTokenCount: 3 }, "gemini-2.5-flash-image"),
    });
    await client.models.generateContent({
      model: "gemini-2.5-flash-image",
      contents: "Describe a cat",
      config: { maxOutputTokens: 1_300, responseModalities: ["TEXT"] },
    });
    const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
    // 1,300 output tokens at $2.50/M = 33 UT (rounded up), plus a few prompt tokens.
    expect(spend?.data.holdUsertokens as number).toBeLessThan(IMAGE_EXPECTED_UT);
    expect(spend?.data.holdUsertokens as number).toBeGreaterThanOrEqual(33);
    await client.destroy();
  });
});
