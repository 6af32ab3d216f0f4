import { Buffer } from "node:buffer";

/**
 * Input tokens for prompt parts that are not text, by each provider's documented sizing. A hold
 * must cover the call, so where the size is unknown (a URL, a file id) the provider's ceiling for
 * one item is used; the provider's own usage replaces the estimate at settle. Files sent by
 * reference (OpenAI file ids, Gemini file URIs) are not visible to us and add nothing.
 */

/** OpenAI: "low" detail is a flat 85; otherwise up to 85 + 170 per 512px tile, capped at 1,536 patches. */
export function openAIImageTokens(detail: unknown): number {
  return detail === "low" ? 85 : 1536;
}

/** Anthropic: width × height / 750, and images are resized to at most ~1.15 megapixels: about 1,600. */
export const ANTHROPIC_IMAGE_TOKENS = 1600;

/** Gemini 3 at the highest media resolution: 1,120 tokens per image (older models: 258 per 768px tile). */
export const GEMINI_IMAGE_TOKENS = 1120;

/** Per PDF page, text plus the page image: OpenAI and Anthropic up to ~3,000, Gemini 560 at high resolution. */
export const PDF_PAGE_TOKENS = { openai: 3000, anthropic: 3000, google: 560 } as const;

/** Gemini audio is 32 tokens a second; at 16 kbit/s or more that is at most one token per 62 bytes. */
const GEMINI_AUDIO_BYTES_PER_TOKEN = 62;
/** Gemini video is ~300 tokens a second; at 256 kbit/s or more that is at most one token per 100 bytes. */
const GEMINI_VIDEO_BYTES_PER_TOKEN = 100;

/** Tokens for a base64 PDF: its pages times the per-page rate, or its bytes / 3 when no page is found. */
export function pdfTokens(base64: string, perPage: number): number {
  const bytes = Buffer.from(stripDataUrl(base64), "base64");
  const pages = countPdfPages(bytes.toString("latin1"));
  return pages > 0 ? pages * perPage : Math.ceil(bytes.length / 3);
}

/** Gemini inline data by MIME type. */
export function geminiInlineTokens(mimeType: unknown, base64: unknown): number {
  const type = typeof mimeType === "string" ? mimeType : "";
  const data = typeof base64 === "string" ? base64 : "";
  if (type.startsWith("image/")) return GEMINI_IMAGE_TOKENS;
  if (type === "application/pdf") return pdfTokens(data, PDF_PAGE_TOKENS.google);
  const bytes = Buffer.byteLength(data, "base64");
  if (type.startsWith("audio/")) return Math.ceil(bytes / GEMINI_AUDIO_BYTES_PER_TOKEN);
  if (type.startsWith("video/")) return Math.ceil(bytes / GEMINI_VIDEO_BYTES_PER_TOKEN);
  // Text-like inline data (text/plain, JSON, code) is read as text.
  return Math.ceil(bytes / 3);
}

function stripDataUrl(value: string): string {
  const comma = value.startsWith("data:") ? value.indexOf(",") : -1;
  return comma >= 0 ? value.slice(comma + 1) : value;
}

/** Page objects are `/Type /Page` (not `/Pages`, the page tree), in any spacing. */
function countPdfPages(text: string): number {
  return text.match(/\/Type\s*\/Page(?![a-zA-Z])/g)?.length ?? 0;
}
