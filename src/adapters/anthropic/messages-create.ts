import { usageFromAnthropic } from "../../core/surface/anthropic-usage.ts";
import type { CallTranslation } from "../governed-call.ts";
import { messagesRequestToGoverned } from "./messages-request.ts";
import { MessagesStreamMeter, messageOutputBytes } from "./messages-usage.ts";

/** messages.create, plain and `stream: true` (Anthropic always reports usage in the stream). */
export const messagesCreateTranslation: CallTranslation = {
  toGoverned: messagesRequestToGoverned,
  isStream: (body) => (body as { stream?: unknown }).stream === true,
  streamRequest: (body) => ({ sent: body, meter: new MessagesStreamMeter() }),
  usageOf: (response) => {
    const { usage, model } = response as { usage?: unknown; model?: unknown };
    return usageFromAnthropic(usage, typeof model === "string" ? model : undefined);
  },
  outputBytesOf: (response) => messageOutputBytes((response as { content?: unknown }).content),
};
