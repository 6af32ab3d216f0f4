import type { BaseMessage } from "@langchain/core/messages";
import { outcomeOfError } from "../../core/circuit-breaker.ts";
import type { Engine } from "../../core/engine.ts";
import type { Hold } from "../../core/hold.ts";
import { estimateOutputTokens } from "../../core/hold-sizing.ts";
import type { TrustReceipt } from "../../core/receipt.ts";
import { reportReceipt } from "../../core/surface/receipt-callback.ts";
import { overlayContext, parseContext, type SurfaceOptions } from "../../core/surface/shared-engine.ts";
import { copyWithTexts, mapTextsInPlace } from "../../core/surface/text-fields.ts";
import { type TrustContext, withCallerContext } from "../../core/surface/trust-context.ts";
import {
  conversationOf,
  type MessageConversation,
  type ModelIdentity,
  messagesToGoverned,
  usageOfMessage,
} from "./messages-request.ts";

/** One LangChain model call under governance: its hold and, in redact mode, the messages to send. */
export interface LangChainCall {
  hold: Hold;
  /** The messages to send: the caller's, or copies with personal data replaced. */
  messages: BaseMessage[];
  /** Puts redacted values back into a response message's text, in place (redact with restore). */
  restore: ((message: BaseMessage) => void) | undefined;
}

/** Authorizes a call (which may refuse it) and prepares what is sent. */
export async function openLangChainCall(
  engine: Engine,
  settings: SurfaceOptions,
  defaults: TrustContext,
  identity: ModelIdentity,
  messages: BaseMessage[],
  callContext: unknown,
  tools?: unknown,
): Promise<LangChainCall> {
  const request = overlayContext(
    withCallerContext(messagesToGoverned(messages, identity, tools), defaults),
    parseContext(callContext),
  );
  const hold = await engine.authorize(request);
  reportReceipt(hold, settings.onReceipt);
  const redaction = hold.terms.redaction;
  if (redaction === undefined) return { hold, messages, restore: undefined };
  const { redactor, restore } = redaction;
  for (const message of messages)
    copyWithTexts(conversationOf(message), (text) => {
      redactor.reserve(text);
      return text;
    });
  return {
    hold,
    messages: messages.map((message) => withContent(message, (text) => redactor.redact(text))),
    restore: restore
      ? (message) => {
          mapTextsInPlace(message, (text) => redactor.restore(text));
        }
      : undefined,
  };
}

/** A copy of a message (same class, same fields) whose conversation (conversationOf) is mapped. */
function withContent(message: BaseMessage, map: (text: string) => string): BaseMessage {
  const mapped = copyWithTexts(conversationOf(message), map) as MessageConversation;
  const fields = { ...(message as unknown as { lc_kwargs: Record<string, unknown> }).lc_kwargs };
  fields.content = mapped.content;
  if (mapped.tool_calls !== undefined) fields.tool_calls = mapped.tool_calls;
  if (mapped.invalid_tool_calls !== undefined) fields.invalid_tool_calls = mapped.invalid_tool_calls;
  if (mapped.provider_tool_calls !== undefined) {
    const kwargs = (fields.additional_kwargs ?? {}) as Record<string, unknown>;
    fields.additional_kwargs = { ...kwargs, tool_calls: mapped.provider_tool_calls };
  }
  const Message = message.constructor as new (fields: Record<string, unknown>) => BaseMessage;
  return new Message(fields);
}

/**
 * Settles at the message's usage (usageOfMessage), or on an estimate of its text when it has none.
 * `outputTokens`, when known better than the message says (a stream's cumulative count), replaces
 * its output. `cut`: the stream ended early, so the usage it reported so far may predate most of
 * the text (Anthropic's first chunk counts one output token): output is then at least what the
 * received text is estimated at.
 */
export async function settleMessage(
  hold: Hold,
  message: BaseMessage | undefined,
  outputTokens?: number,
  cut = false,
): Promise<TrustReceipt> {
  const text =
    typeof message?.content === "string" ? message.content : JSON.stringify(message?.content ?? "");
  const bytes = Buffer.byteLength(text, "utf8");
  const usage = usageOfMessage(message);
  if (usage === undefined) return hold.settleEstimated(bytes);
  const reported = outputTokens ?? usage.outputTokens;
  const output = cut ? Math.max(reported, estimateOutputTokens(bytes)) : reported;
  return hold.settle(output === usage.outputTokens ? usage : { ...usage, outputTokens: output });
}

/** Releases the hold of a call the provider did not answer; never throws. */
export async function releaseCall(hold: Hold, error: unknown): Promise<void> {
  const reason = error instanceof Error ? error.name : typeof error;
  await hold
    .void(`the provider call failed: ${reason}`, "call_failed", outcomeOfError(error))
    .catch(() => {});
}
