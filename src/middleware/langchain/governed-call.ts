import type { BaseMessage } from "@langchain/core/messages";
import { outcomeOfError } from "../../core/circuit-breaker.ts";
import type { Engine } from "../../core/engine.ts";
import type { Redactor } from "../../core/guards/redactor.ts";
import type { Hold } from "../../core/hold.ts";
import { estimateOutputTokens } from "../../core/hold-sizing.ts";
import type { TrustReceipt } from "../../core/receipt.ts";
import { reportReceipt } from "../../core/surface/receipt-callback.ts";
import {
  type ChunkRestorer,
  piecePosition,
  pieceRestorer,
  restoreTexts,
  withinOf,
} from "../../core/surface/redaction.ts";
import { overlayContext, parseContext, type SurfaceOptions } from "../../core/surface/shared-engine.ts";
import { copyWithTexts, mapTextsInPlace } from "../../core/surface/text-fields.ts";
import { type TrustContext, withCallerContext } from "../../core/surface/trust-context.ts";
import {
  conversationOf,
  type MessageConversation,
  type ModelIdentity,
  messagesToGoverned,
  requestedTierPercentOf,
  usageOfMessage,
} from "./messages-request.ts";

/** What settling a call needs: its hold, and the rate its reply is charged at when it names no tier. */
export interface CallSettlement {
  hold: Hold;
  /**
   * What OpenAI bills the service tier the request asked for, in percent of the standard rates
   * (flex 50, which is held at 100): a reply that does not name the tier that served it (a whole
   * chat completion through @langchain/openai) is charged at it. Undefined for other providers.
   */
  requestedTierPercent: number | undefined;
}

/** One LangChain model call under governance: its hold and, in redact mode, the messages to send. */
export interface LangChainCall extends CallSettlement {
  /** The messages to send: the caller's, or copies with personal data replaced. */
  messages: BaseMessage[];
  /** Puts redacted values back into a response message's text, in place (redact with restore). */
  restore: ((message: BaseMessage) => void) | undefined;
  /** A restorer for one stream's message chunks, in place (redact with restore). */
  chunkRestorer: (() => ChunkRestorer) | undefined;
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
  const requestedTierPercent = requestedTierPercentOf(identity);
  const redaction = hold.terms.redaction;
  if (redaction === undefined)
    return { hold, requestedTierPercent, messages, restore: undefined, chunkRestorer: undefined };
  const { redactor, restore } = redaction;
  for (const message of messages)
    copyWithTexts(conversationOf(message), (text) => {
      redactor.reserve(text);
      return text;
    });
  return {
    hold,
    requestedTierPercent,
    messages: messages.map((message) => withContent(message, (text) => redactor.redact(text))),
    restore: restore ? (message) => restoreTexts(message, redactor) : undefined,
    chunkRestorer: restore ? () => messageChunkRestorer(redactor) : undefined,
  };
}

/**
 * Restores the chunks of a streamed message. Their content and tool-call arguments are pieces of
 * the message (see PieceRestorer), so a placeholder split across chunks is held back until it is
 * complete. `tool_call_chunks[].args` — from which `concat()` rebuilds the aggregated tool calls —
 * are pieces of JSON source, as are Anthropic `input_json_delta` blocks; every other text (a
 * chunk's own partial `tool_calls`) is restored whole. `lc_kwargs` copies the constructor's fields,
 * so its texts are restored the same way.
 */
function messageChunkRestorer(redactor: Redactor): ChunkRestorer {
  const pieces = pieceRestorer(redactor);
  return {
    chunk(chunk) {
      mapTextsInPlace(chunk, (text, path, inJson) => {
        const within = withinOf(inJson || isJsonDeltaBlock(chunk, path));
        if (!MESSAGE_PIECE.test(path)) return redactor.restore(text, within);
        return pieces.piece(piecePosition(chunk, path), text, within, (tail) => {
          mapTextsInPlace(chunk, (current, at) => (at === path ? current + tail : current));
        });
      });
      const toolChunks = (chunk as { tool_call_chunks?: Array<{ args?: unknown; index?: unknown }> })
        .tool_call_chunks;
      for (const toolChunk of toolChunks ?? []) {
        if (typeof toolChunk.args !== "string") continue;
        const position = `.tool_call_chunks.#${String(toolChunk.index ?? "")}`;
        toolChunk.args = pieces.piece(position, toolChunk.args, "json-string", (tail) => {
          toolChunk.args = `${String(toolChunk.args)}${tail}`;
        });
      }
    },
    pending: () => pieces.pending(),
    finish: () => pieces.finish(),
  };
}

/** A chunk's content and its provider tool calls' arguments (also as copied into `lc_kwargs`). */
const MESSAGE_PIECE = /^(?:\.lc_kwargs)?\.(?:content|additional_kwargs\.tool_calls)(?:\.|$)/;

/** An Anthropic streamed tool input block: `{ type: "input_json_delta", input: <partial JSON> }`. */
function isJsonDeltaBlock(chunk: unknown, path: string): boolean {
  const block = /^(?:\.lc_kwargs)?\.content\.(\d+)\.input$/.exec(path);
  if (block === null) return false;
  const lcKwargs = path.startsWith(".lc_kwargs") ? (chunk as { lc_kwargs?: unknown }).lc_kwargs : chunk;
  const content = (lcKwargs as { content?: unknown } | undefined)?.content;
  return Array.isArray(content) && content[Number(block[1])]?.type === "input_json_delta";
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
  { hold, requestedTierPercent }: CallSettlement,
  message: BaseMessage | undefined,
  outputTokens?: number,
  cut = false,
): Promise<TrustReceipt> {
  const text =
    typeof message?.content === "string" ? message.content : JSON.stringify(message?.content ?? "");
  const bytes = Buffer.byteLength(text, "utf8");
  const usage = usageOfMessage(message, requestedTierPercent);
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
