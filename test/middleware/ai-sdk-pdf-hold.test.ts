import type { LanguageModelV4CallOptions } from "@ai-sdk/provider";
import { generateText } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { describe, expect, it } from "vitest";
import { PDF_PAGE_TOKENS, pdfTokens } from "../../src/core/surface/media-tokens.ts";
import { callToGoverned } from "../../src/middleware/ai-sdk/prompt-request.ts";

/*
 * prompt-request.ts sizes a PDF file part from `part.data` as a base64 string or a Uint8Array. In
 * LanguageModelV4 (ai 7) a file part's `data` is a tagged union ({ type: "data", data } | { type:
 * "url", url } | …), so a PDF's pages are never counted and the hold covers none of them.
 */

/** A minimal 3-page PDF: pdfTokens counts `/Type /Page` objects. */
const PDF = Buffer.from(
  "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] /Count 3 >> endobj\n" +
    "3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n4 0 obj << /Type /Page /Parent 2 0 R >> endobj\n5 0 obj << /Type /Page /Parent 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
);

describe("usertrust/ai-sdk: a PDF file part in the prompt", () => {
  it("counts its pages as media tokens, as trust() does for the same PDF", async () => {
    let prompt: LanguageModelV4CallOptions["prompt"] | undefined;
    const model = new MockLanguageModelV4({
      provider: "anthropic.messages",
      modelId: "claude-sonnet-4-5",
      doGenerate: async (options) => {
        prompt = options.prompt;
        return {
          content: [{ type: "text", text: "ok" }],
          finishReason: { unified: "stop", raw: "stop" },
          usage: {
            inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
            outputTokens: { total: 1, text: 1, reasoning: 0 },
          },
          warnings: [],
        };
      },
    });
    await generateText({
      model,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Summarise" },
            { type: "file", data: PDF, mediaType: "application/pdf" },
          ],
        },
      ],
    });
    const expected = pdfTokens(PDF.toString("base64"), PDF_PAGE_TOKENS.anthropic);
    expect(expected).toBeGreaterThan(0);
    const request = callToGoverned(
      { prompt: prompt ?? [] } as LanguageModelV4CallOptions,
      "anthropic",
      "claude-sonnet-4-5",
    );
    expect(request.mediaTokens ?? 0).toBe(expected);
  });
});
