import { Buffer } from "node:buffer";
import {
  type MediaCounts,
  type Modality,
  makeUsage,
  type Usage,
  usageFromInclusiveCounts,
} from "../../core/usage.ts";
import type { StreamMeter } from "../governed-call.ts";

interface UsageMetadata {
  promptTokenCount?: number | null;
  cachedContentTokenCount?: number | null;
  candidatesTokenCount?: number | null;
  thoughtsTokenCount?: number | null;
  toolUsePromptTokenCount?: number | null;
  promptTokensDetails?: unknown;
  cacheTokensDetails?: unknown;
  candidatesTokensDetails?: unknown;
}

/**
 * Gemini counts cached tokens inside promptTokenCount (split out, priced at the cache-read rate),
 * bills thinking as output (thoughtsTokenCount is separate from candidatesTokenCount), and bills
 * the results of its own tools (toolUsePromptTokenCount) as input. The `…TokensDetails` lists
 * break the prompt, its cached part and the candidates down by modality, each billed at its rate.
 */
export function usageFromGemini(metadata: unknown): Usage | undefined {
  if (typeof metadata !== "object" || metadata === null) return undefined;
  const reported = metadata as UsageMetadata;
  if (typeof reported.promptTokenCount !== "number" && typeof reported.candidatesTokenCount !== "number") {
    return undefined;
  }
  const usage = usageFromInclusiveCounts({
    input: reported.promptTokenCount,
    cacheRead: reported.cachedContentTokenCount,
    output: (reported.candidatesTokenCount ?? 0) + (reported.thoughtsTokenCount ?? 0),
    inputMedia: mediaCounts(reported.promptTokensDetails),
    cacheReadMedia: mediaCounts(reported.cacheTokensDetails),
    outputMedia: mediaCounts(reported.candidatesTokensDetails),
  });
  // Results of Gemini's own tools are billed as input.
  return makeUsage({ ...usage, inputTokens: usage.inputTokens + (reported.toolUsePromptTokenCount ?? 0) });
}

/** Gemini bills a document's tokens as an image's (the price table reads DOCUMENT as IMAGE too). */
const MODALITY_OF: ReadonlyMap<unknown, Modality> = new Map([
  ["AUDIO", "audio"],
  ["IMAGE", "image"],
  ["DOCUMENT", "image"],
  ["VIDEO", "video"],
]);

/**
 * A `[{ modality, tokenCount }]` list by modality; undefined when the response has none. A listed
 * breakdown says a modality it leaves out has no tokens.
 */
function mediaCounts(details: unknown): MediaCounts | undefined {
  if (!Array.isArray(details)) return undefined;
  const counts: Record<Modality, number> = { audio: 0, image: 0, video: 0 };
  for (const entry of details) {
    const { modality, tokenCount } = (entry ?? {}) as { modality?: unknown; tokenCount?: unknown };
    const kind = MODALITY_OF.get(modality);
    if (kind !== undefined && typeof tokenCount === "number" && tokenCount > 0) counts[kind] += tokenCount;
  }
  return counts;
}

/** UTF-8 bytes of the candidates' parts (text, thoughts, function calls), for estimates. */
export function candidatesOutputBytes(candidates: unknown): number {
  if (!Array.isArray(candidates)) return 0;
  let bytes = 0;
  for (const candidate of candidates) {
    const parts = (candidate as { content?: { parts?: unknown } } | null)?.content?.parts;
    if (!Array.isArray(parts)) continue;
    for (const part of parts) {
      const { text, functionCall } = (part ?? {}) as { text?: unknown; functionCall?: unknown };
      if (typeof text === "string") bytes += Buffer.byteLength(text, "utf8");
      if (functionCall !== undefined) bytes += Buffer.byteLength(JSON.stringify(functionCall), "utf8");
    }
  }
  return bytes;
}

interface GeminiChunk {
  candidates?: unknown;
  usageMetadata?: unknown;
}

/** Every chunk of a Gemini stream may carry usageMetadata as running totals: the latest replaces the rest. */
export class GeminiStreamMeter implements StreamMeter<GeminiChunk> {
  #usage: Usage | undefined;
  #outputBytes = 0;

  observe(chunk: GeminiChunk): boolean {
    const usage = usageFromGemini(chunk.usageMetadata);
    if (usage) this.#usage = usage;
    this.#outputBytes += candidatesOutputBytes(chunk.candidates);
    return true;
  }

  usage(): Usage | undefined {
    return this.#usage;
  }

  outputBytes(): number {
    return this.#outputBytes;
  }
}
