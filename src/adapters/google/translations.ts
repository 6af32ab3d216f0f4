import { makeUsage } from "../../core/usage.ts";
import type { CallTranslation } from "../governed-call.ts";
import { geminiRequestToGoverned } from "./generate-request.ts";
import { candidatesOutputBytes, GeminiStreamMeter, usageFromGemini } from "./generate-usage.ts";

/** One generateContent call (each automatic-continuation hop and each automatic function-calling turn is one). */
export const generateContentTranslation: CallTranslation = {
  toGoverned: (params) => geminiRequestToGoverned(params, "generateContent"),
  isStream: () => false,
  streamRequest: () => {
    throw new Error("generateContent does not stream; generateContentStream does.");
  },
  usageOf: (response) => usageFromGemini((response as { usageMetadata?: unknown }).usageMetadata),
  outputBytesOf: (response) => candidatesOutputBytes((response as { candidates?: unknown }).candidates),
};

export const generateContentStreamTranslation: CallTranslation = {
  ...generateContentTranslation,
  toGoverned: (params) => geminiRequestToGoverned(params, "generateContentStream"),
  isStream: () => true,
  streamRequest: (params) => ({ sent: params, meter: new GeminiStreamMeter() }),
};

/**
 * embedContent: all input, no output. The Gemini API reports no token counts for embeddings
 * (Vertex reports one per embedding), so without them the call settles at the prompt estimate.
 */
export const embedContentTranslation: CallTranslation = {
  toGoverned: (params) => ({ ...geminiRequestToGoverned(params, "embedContent"), maxOutputTokens: 0 }),
  isStream: () => false,
  streamRequest: () => {
    throw new Error("embedContent does not stream.");
  },
  usageOf(response) {
    const embeddings = (response as { embeddings?: unknown }).embeddings;
    if (!Array.isArray(embeddings)) return undefined;
    let tokens = 0;
    let counted = false;
    for (const embedding of embeddings) {
      const count = (embedding as { statistics?: { tokenCount?: unknown } } | null)?.statistics?.tokenCount;
      if (typeof count === "number") {
        tokens += count;
        counted = true;
      }
    }
    return counted ? makeUsage({ inputTokens: tokens }) : undefined;
  },
  outputBytesOf: () => 0,
};
