import { Buffer } from "node:buffer";

/**
 * Input tokens for prompt parts that are not text, by each provider's documented sizing. A hold
 * must cover the call, so where the size is unknown (a URL, a file id) the provider's ceiling for
 * one item is used; the provider's own usage replaces the estimate at settle. Files sent by
 * reference (OpenAI file ids, Gemini file URIs) are not visible to us and add nothing.
 */

/**
 * OpenAI sizes images differently per model, and prices the tokens at the model's rate:
 * - gpt-4o and most models: "low" 85; otherwise 85 + 170 per 512px tile, at most 8 tiles (1,536
 *   covers it, and the 1,536-patch cap of patch-sized models).
 * - gpt-4o-mini: 2,833 + 5,667 per tile (33×, at a 33× lower rate): "low" 2,833, at most 48,169.
 * - patch-sized small models multiply the 1,536-patch cap: gpt-4.1-mini 1.62×, o4-mini 1.72×,
 *   gpt-4.1-nano 2.46×; other "mini" / "nano" models are held at the largest of these.
 */
export function openAIImageTokens(detail: unknown, model = ""): number {
  const low = detail === "low";
  if (model.startsWith("gpt-4o-mini")) return low ? 2_833 : 2_833 + 8 * 5_667;
  const patchScale = OPENAI_PATCH_SCALES.find(([prefix]) => model.startsWith(prefix))?.[1];
  if (patchScale !== undefined) return Math.ceil(OPENAI_PATCHES_MAX * patchScale);
  if (/-(mini|nano)\b/.test(model)) return Math.ceil(OPENAI_PATCHES_MAX * OPENAI_PATCH_SCALE_MAX);
  return low ? 85 : OPENAI_PATCHES_MAX;
}

const OPENAI_PATCHES_MAX = 1_536;
const OPENAI_PATCH_SCALES: ReadonlyArray<readonly [string, number]> = [
  ["gpt-4.1-mini", 1.62],
  ["gpt-4.1-nano", 2.46],
  ["o4-mini", 1.72],
];
const OPENAI_PATCH_SCALE_MAX = 2.46;

/**
 * Anthropic: about width × height / 750 tokens. Images are resized to at most ~1.15 megapixels
 * (about 1,600 tokens); Claude Opus 4.7 and later read up to ~3.75 megapixels (2,576 px on the long
 * edge: 92 × 52 patches of 28 px = 4,784 tokens for 2576×1456), held at 5,000.
 */
export function anthropicImageTokens(model = ""): number {
  return HIGH_RESOLUTION_CLAUDE.test(model) ? 5_000 : 1_600;
}

/** claude-opus-4-7, -4-8, -4-9, and any Claude of a major version 5 or later. */
const HIGH_RESOLUTION_CLAUDE = /^claude-(opus-4-[7-9]|[a-z]+-([5-9]|\d{2,})(\b|-))/;

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
