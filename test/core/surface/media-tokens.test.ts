import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import {
  anthropicImageTokens,
  geminiInlineTokens,
  openAIImageTokens,
  pdfTokens,
} from "../../../src/core/surface/media-tokens.ts";

/** A minimal PDF body: a page tree and `pages` page objects, as base64. */
function pdf(pages: number): string {
  const objects = ["1 0 obj << /Type /Pages /Count 3 /Kids [] >> endobj"];
  for (let i = 0; i < pages; i++) objects.push(`${i + 2} 0 obj << /Type/Page /Parent 1 0 R >> endobj`);
  return Buffer.from(`%PDF-1.7\n${objects.join("\n")}\n%%EOF`, "latin1").toString("base64");
}

describe("media sizing for holds", () => {
  it("sizes a PDF by its page objects, not its page tree, with or without a data: URL prefix", () => {
    expect(pdfTokens(pdf(3), 3000)).toBe(9000);
    expect(pdfTokens(`data:application/pdf;base64,${pdf(2)}`, 560)).toBe(1120);
  });

  it("falls back to bytes / 3 for a file with no page objects", () => {
    const text = Buffer.from("x".repeat(300)).toString("base64");
    expect(pdfTokens(text, 3000)).toBe(100);
  });

  it("holds OpenAI images at the low-detail flat rate only when detail is low", () => {
    expect(openAIImageTokens("low")).toBe(85);
    expect(openAIImageTokens("high")).toBeGreaterThan(1000);
    expect(openAIImageTokens(undefined)).toBe(openAIImageTokens("auto"));
  });

  it("sizes OpenAI images by the model that reads them", () => {
    expect(openAIImageTokens("high", "gpt-4o")).toBe(1536);
    expect(openAIImageTokens("low", "gpt-4o-mini-2024-07-18")).toBe(2833);
    expect(openAIImageTokens("high", "gpt-4o-mini")).toBe(2833 + 8 * 5667);
    expect(openAIImageTokens("low", "gpt-4.1-nano"), "patch models have no low detail").toBe(3779);
    expect(openAIImageTokens("auto", "o4-mini")).toBe(2642);
    expect(openAIImageTokens("auto", "gpt-9-mini"), "an unknown small model: the largest scale").toBe(3779);
  });

  it("holds Anthropic images at ~1.15 MP, and at ~3.75 MP for Claude Opus 4.7 and later", () => {
    expect(anthropicImageTokens("claude-sonnet-4-6")).toBe(1600);
    expect(anthropicImageTokens("claude-opus-4-1")).toBe(1600);
    expect(anthropicImageTokens("claude-opus-4-7")).toBe(5000);
    expect(anthropicImageTokens("claude-opus-4-8-20261001")).toBe(5000);
    expect(anthropicImageTokens("claude-sonnet-5")).toBe(5000);
  });

  it("sizes Gemini inline data by MIME type", () => {
    const bytes = Buffer.alloc(62_000).toString("base64");
    expect(geminiInlineTokens("image/png", bytes)).toBe(1120);
    expect(geminiInlineTokens("audio/mp3", bytes)).toBe(1000);
    expect(geminiInlineTokens("video/mp4", bytes)).toBe(620);
    expect(geminiInlineTokens("application/pdf", pdf(4))).toBe(2240);
    expect(geminiInlineTokens("text/plain", Buffer.from("a".repeat(30)).toString("base64"))).toBe(10);
  });
});
