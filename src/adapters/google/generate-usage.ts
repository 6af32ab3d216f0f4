import { Buffer } from "node:buffer";
import { makeUsage, type Usage, usageWithCachedInside } from "../../core/usage.ts";
import type { StreamMeter } from "../governed-call.ts";

interface UsageMetadata {
  promptTokenCount?: number | null;
  cachedContentTokenCount?: number | null;
  candidatesTokenCount?: number | null;
  thoughtsTokenCount?: number | null;
  toolUsePromptTokenCount?: number | null;
}

/**
 * Gemini counts cached tokens inside promptTokenCount (split out, priced at the cache-read rate),
 * bills thinking as output (thoughtsTokenCount is separate from candidatesTokenCount), and bills
 * the results of its own tools (toolUsePromptTokenCount) as input.
 */
export function usageFromGemini(metadata: unknown): Usage | undefined {
  if (typeof metadata !== "object" || metadata === null) return undefined;
  const reported = metadata as UsageMetadata;
  if (typeof reported.promptTokenCount !== "number" && typeof reported.candidatesTokenCount !== "number") {
    return undefined;
  }
  const usage = usageWithCachedInside(
    reported.promptTokenCount,
    reported.cachedContentTokenCount,
    (reported.candidatesTokenCount ?? 0) + (reported.thoughtsTokenCount ?? 0),
  );
  // Results of Gemini's own tools are billed as input.
  return makeUsage({ ...usage, inputTokens: usage.inputTokens + (reported.toolUsePromptTokenCount ?? 0) });
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
