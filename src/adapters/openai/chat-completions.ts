import type { CallTranslation } from "../governed-call.ts";
import { chatRequestToGoverned } from "./chat-request.ts";
import { ChatStreamMeter, completionOutputBytes, usageOfCompletion } from "./chat-usage.ts";

interface ChatBody {
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
}

/** chat.completions.create: streams ask for the usage chunk, hidden again if the caller did not ask. */
export const chatCompletionsTranslation: CallTranslation = {
  toGoverned: chatRequestToGoverned,
  isStream: (body) => (body as ChatBody).stream === true,
  streamRequest(body) {
    const chat = body as ChatBody;
    const callerAskedForUsage = chat.stream_options?.include_usage === true;
    const sent = callerAskedForUsage
      ? body
      : { ...(body as object), stream_options: { ...(chat.stream_options ?? {}), include_usage: true } };
    return { sent, meter: new ChatStreamMeter(!callerAskedForUsage) };
  },
  usageOf: usageOfCompletion,
  outputBytesOf: (response) => completionOutputBytes((response as { choices?: unknown }).choices),
};
