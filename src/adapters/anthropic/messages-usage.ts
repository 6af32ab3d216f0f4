import { Buffer } from "node:buffer";
import { type AnthropicUsage, usageFromAnthropic } from "../../core/surface/anthropic-usage.ts";
import type { Usage } from "../../core/usage.ts";
import type { StreamMeter } from "../governed-call.ts";

/** UTF-8 bytes of a message's content blocks, for an estimate when usage is missing. */
export function messageOutputBytes(content: unknown): number {
  if (!Array.isArray(content)) return 0;
  let bytes = 0;
  for (const block of content) {
    const { text, thinking, input } = (block ?? {}) as Record<string, unknown>;
    if (typeof text === "string") bytes += Buffer.byteLength(text, "utf8");
    if (typeof thinking === "string") bytes += Buffer.byteLength(thinking, "utf8");
    if (input !== undefined) bytes += Buffer.byteLength(JSON.stringify(input), "utf8");
  }
  return bytes;
}

interface StreamEvent {
  type?: string;
  message?: { usage?: AnthropicUsage; model?: unknown };
  usage?: AnthropicUsage;
  delta?: { text?: unknown; partial_json?: unknown; thinking?: unknown };
}

/**
 * Meters a raw messages stream. message_start carries the input side; message_delta carries
 * cumulative output (and, in newer API versions, the input side again), so later values replace
 * earlier ones field by field and nothing is counted twice.
 */
export class MessagesStreamMeter implements StreamMeter<StreamEvent> {
  #reported: AnthropicUsage | undefined;
  #model: string | undefined;
  #outputBytes = 0;

  observe(event: StreamEvent): boolean {
    if (event.type === "message_start" && typeof event.message?.model === "string")
      this.#model = event.message.model;
    if (event.type === "message_start" && event.message?.usage) this.#merge(event.message.usage);
    else if (event.type === "message_delta" && event.usage) this.#merge(event.usage);
    else if (event.type === "content_block_delta" && event.delta) {
      for (const piece of [event.delta.text, event.delta.partial_json, event.delta.thinking]) {
        if (typeof piece === "string") this.#outputBytes += Buffer.byteLength(piece, "utf8");
      }
    }
    return true;
  }

  usage(): Usage | undefined {
    return usageFromAnthropic(this.#reported, this.#model);
  }

  outputBytes(): number {
    return this.#outputBytes;
  }

  #merge(update: AnthropicUsage): void {
    const merged: AnthropicUsage = { ...this.#reported };
    for (const [key, value] of Object.entries(update)) {
      if (value !== null && value !== undefined) (merged as Record<string, unknown>)[key] = value;
    }
    this.#reported = merged;
  }
}
