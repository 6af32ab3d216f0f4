import type { IncomingMessage, ServerResponse } from "node:http";
import {
  BODY_BYTES_MAX,
  DEFAULT_REPLY,
  delay,
  type IncomingRequest,
  type RecordedRequest,
  type StandInOptions,
  sendJson,
  startStandInServer,
  wordsOf,
  writeStream,
} from "./stand-in-server.ts";

export type { RecordedRequest } from "./stand-in-server.ts";

export interface AnthropicStandInBehaviour {
  /** Usage counts. Defaults: input = ceil(bytes of JSON.stringify({system, messages})/4), output = number of reply words. */
  inputTokens?: number;
  outputTokens?: number;
  cacheReadInputTokens?: number;
  /** Defaults to the sum of `cacheCreation`, or 0. */
  cacheCreationInputTokens?: number;
  /** The `usage.cache_creation` breakdown; defaults to all of cacheCreationInputTokens at the 5-minute TTL, as the API does. */
  cacheCreation?: { ephemeral5m: number; ephemeral1h: number };
  /** Reply text; default "Hello from the stand-in." Streams send one text_delta per word (words keep their trailing spaces). */
  reply?: string;
  /** Drop `usage` from the message (non-stream and message_start) and from message_delta. The SDK's messages.stream() helper cannot cope with that; raw iteration can. */
  omitUsage?: boolean;
  /** Stream: after this many reply words (text_delta events; thinking deltas before them do not count), destroy the socket (before an error event due at the same point). With fewer words, it dies after the last word, before content_block_stop. */
  failAfterEvents?: number;
  /** Reply to the next `times` POST /v1/messages with this HTTP status and an Anthropic error body, then behave normally. retryAfterMs sets a `retry-after-ms` header. */
  failStatus?: { status: number; times: number; retryAfterMs?: number };
  /** Stream: after this many reply words (text_delta events), send an SSE `error` event (overloaded_error) and end the stream, as the API does mid-stream. */
  errorEventAfter?: number;
  /** Delay before responding (ms), and between stream events (ms). Default 0. */
  delayMs?: number;
  chunkDelayMs?: number;
  /**
   * Tool use: a messages request whose last message has no `tool_result` block is answered with one
   * `tool_use` block calling this tool (stop_reason "tool_use"; streamed as one `input_json_delta`); a
   * request whose last message carries a tool_result (the next round of a tool loop) gets the text reply.
   * Default output tokens of the tool_use reply: ceil(bytes of JSON.stringify(input) / 4).
   */
  toolUse?: { name: string; input: Record<string, unknown>; id?: string };
  /**
   * A `thinking` block before the text (streamed as thinking_delta events, one per word, then a
   * signature_delta). As the API does, its tokens are part of `output_tokens`: the default output is
   * then reply words + thinking words.
   */
  thinking?: string;
  /**
   * A server-side compaction step (beta context management) before the reply: as the API does, its
   * tokens appear only in a `compaction` entry of `usage.iterations` (the reply is a `message` entry),
   * not in the top-level counts.
   */
  compaction?: { inputTokens: number; outputTokens: number };
}

export interface AnthropicStandIn {
  /** e.g. "http://127.0.0.1:54321" (no trailing slash, no /v1): pass it as the SDK's baseURL, which appends /v1/messages. */
  url: string;
  /** Every request received, in order; only the last REQUESTS_KEPT_MAX are kept. */
  requests: RecordedRequest[];
  /** Replaces the behaviour for requests that arrive afterwards; in-flight requests keep theirs. */
  setBehaviour(b: AnthropicStandInBehaviour): void;
  /** Closes the server, all open sockets and pending timers; idempotent. */
  close(): Promise<void>;
}

// beta.messages.create posts here too: @anthropic-ai/sdk 1 marks beta calls with an internal
// qualifier and the `anthropic-beta` header, not with a `?beta=true` query.
const MESSAGES_PATH = "/v1/messages";
const COUNT_TOKENS_PATH = "/v1/messages/count_tokens";
// message_start, content_block_start and ping come before the first content_block_delta.
const EVENTS_BEFORE_DELTAS = 3;
const THINKING_SIGNATURE = "c3RhbmQtaW4tc2lnbmF0dXJl";

interface MessagesRequest {
  model: string;
  stream: boolean;
  system: unknown;
  messages: unknown[];
}

type ContentBlock =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> };

interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  service_tier: "standard";
  iterations?: object[];
}

export async function startAnthropicStandIn(
  behaviour: AnthropicStandInBehaviour = {},
  options: StandInOptions = {},
): Promise<AnthropicStandIn> {
  let current = behaviour;
  let failuresLeft = behaviour.failStatus?.times ?? 0;
  let responseSeq = 0;

  async function handle(req: IncomingMessage, res: ServerResponse, incoming: IncomingRequest): Promise<void> {
    const { path, text, body } = incoming;
    // Snapshot so a concurrent setBehaviour cannot change a response halfway through, and spend a
    // planned failure only on a well-formed messages request, before the delay, so failures keep arrival order.
    const b = current;
    const isPost = req.method === "POST";
    const isMessages = isPost && path === MESSAGES_PATH;
    const isCount = isPost && path === COUNT_TOKENS_PATH;
    const request =
      (isMessages || isCount) && text !== undefined ? readMessagesRequest(body, isMessages) : undefined;
    const failure = isMessages && request !== undefined && failuresLeft > 0 ? b.failStatus : undefined;
    if (failure !== undefined) failuresLeft -= 1;
    await delay(b.delayMs, server.shutdownSignal);

    if (!isMessages && !isCount) return sendError(res, 404, `Unknown request URL: ${req.method} ${path}.`);
    if (text === undefined) return sendError(res, 413, `Request body exceeds ${BODY_BYTES_MAX} bytes.`);
    if (request === undefined) {
      const fields = isMessages ? "a string `model`, an integer `max_tokens` and" : "a string `model` and";
      return sendError(res, 400, `Body must be a JSON object with ${fields} an array \`messages\`.`);
    }
    if (isCount) return sendJson(res, 200, { input_tokens: tokensOf(request.messages) });
    if (failure !== undefined) {
      if (failure.retryAfterMs !== undefined) res.setHeader("retry-after-ms", String(failure.retryAfterMs));
      return sendError(res, failure.status, `Stand-in failure with status ${failure.status}.`);
    }
    responseSeq += 1;
    await respondToMessages(res, request, b, `msg_standin${responseSeq}`, server.shutdownSignal);
  }

  const server = await startStandInServer({ ...options, handle, sendError });
  return {
    url: server.url,
    requests: server.requests,
    setBehaviour(b) {
      current = b;
      failuresLeft = b.failStatus?.times ?? 0;
    },
    close: server.close,
  };
}

async function respondToMessages(
  res: ServerResponse,
  request: MessagesRequest,
  b: AnthropicStandInBehaviour,
  id: string,
  signal: AbortSignal,
): Promise<void> {
  const reply = b.reply ?? DEFAULT_REPLY;
  const words = wordsOf(reply);
  const thinkingWords = b.thinking === undefined ? [] : wordsOf(b.thinking);
  const tool = b.toolUse !== undefined && !endsWithToolResult(request.messages) ? b.toolUse : undefined;
  const content: ContentBlock[] = [];
  if (b.thinking !== undefined)
    content.push({ type: "thinking", thinking: b.thinking, signature: THINKING_SIGNATURE });
  if (tool !== undefined)
    content.push({ type: "tool_use", id: tool.id ?? `toolu_${id}`, name: tool.name, input: tool.input });
  else content.push({ type: "text", text: reply });
  const defaultOutput = tool !== undefined ? tokensOf(tool.input) : words.length + thinkingWords.length;
  const usage = b.omitUsage === true ? undefined : usageOf(b, request, defaultOutput);
  const stopReason = tool !== undefined ? "tool_use" : "end_turn";
  const base = { id, type: "message", role: "assistant", model: request.model };
  if (!request.stream) {
    const message = { ...base, content, stop_reason: stopReason, stop_sequence: null };
    return sendJson(res, 200, usage === undefined ? message : { ...message, usage });
  }
  const stream = streamEvents(base, content, usage, stopReason);
  let events = stream.events;
  // The event carrying the n-th reply word (clamped to the reply), or ping when n is 0.
  const deltaIndex = (n: number): number => {
    const clamped = Math.min(n, stream.textDeltas.length);
    return clamped <= 0 ? EVENTS_BEFORE_DELTAS - 1 : (stream.textDeltas[clamped - 1] as number);
  };
  if (b.errorEventAfter !== undefined) {
    const error = { type: "error", error: { type: "overloaded_error", message: "Overloaded" } };
    events = [...events.slice(0, deltaIndex(b.errorEventAfter) + 1), sse("error", error)];
  }
  // Dies right after the event carrying the n-th word (or ping when n is 0).
  const failAfter =
    b.failAfterEvents === undefined
      ? undefined
      : Math.min(deltaIndex(b.failAfterEvents), events.length - 1) + 1;
  await writeStream(res, events, b.chunkDelayMs ?? 0, failAfter, signal);
}

/** Whether the last message carries a tool_result block: the round after a tool call. */
function endsWithToolResult(messages: unknown[]): boolean {
  const content = (messages.at(-1) as { content?: unknown } | null | undefined)?.content;
  return (
    Array.isArray(content) &&
    content.some((block) => (block as { type?: unknown } | null)?.type === "tool_result")
  );
}

/** count_tokens takes no max_tokens; /v1/messages requires it, as the API does. */
function readMessagesRequest(body: unknown, needsMaxTokens: boolean): MessagesRequest | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const fields = body as Record<string, unknown>;
  if (typeof fields.model !== "string" || !Array.isArray(fields.messages)) return undefined;
  if (needsMaxTokens && !Number.isInteger(fields.max_tokens)) return undefined;
  return {
    model: fields.model,
    stream: fields.stream === true,
    system: fields.system,
    messages: fields.messages,
  };
}

function tokensOf(value: unknown): number {
  return Math.ceil(Buffer.byteLength(JSON.stringify(value)) / 4);
}

function usageOf(b: AnthropicStandInBehaviour, request: MessagesRequest, defaultOutput: number): Usage {
  const cacheCreationInputTokens =
    b.cacheCreationInputTokens ??
    (b.cacheCreation ? b.cacheCreation.ephemeral5m + b.cacheCreation.ephemeral1h : 0);
  const breakdown = b.cacheCreation ?? { ephemeral5m: cacheCreationInputTokens, ephemeral1h: 0 };
  return {
    input_tokens: b.inputTokens ?? tokensOf({ system: request.system, messages: request.messages }),
    output_tokens: b.outputTokens ?? defaultOutput,
    cache_creation_input_tokens: cacheCreationInputTokens,
    cache_read_input_tokens: b.cacheReadInputTokens ?? 0,
    cache_creation: {
      ephemeral_5m_input_tokens: breakdown.ephemeral5m,
      ephemeral_1h_input_tokens: breakdown.ephemeral1h,
    },
    service_tier: "standard",
    ...(b.compaction === undefined
      ? {}
      : { iterations: iterationsOf(b.compaction, b, request, defaultOutput) }),
  };
}

function iterationsOf(
  compaction: { inputTokens: number; outputTokens: number },
  b: AnthropicStandInBehaviour,
  request: MessagesRequest,
  defaultOutput: number,
): object[] {
  const counts = (input: number, output: number) => ({
    input_tokens: input,
    output_tokens: output,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: null,
  });
  return [
    { type: "compaction", ...counts(compaction.inputTokens, compaction.outputTokens) },
    {
      type: "message",
      ...counts(
        b.inputTokens ?? tokensOf({ system: request.system, messages: request.messages }),
        b.outputTokens ?? defaultOutput,
      ),
    },
  ];
}

/**
 * SSE events in wire order: message_start, then per content block its start (the first one followed
 * by ping), one delta per word (tool input: one input_json_delta; thinking: then a signature_delta)
 * and its stop, then message_delta and message_stop. `textDeltas` are the indexes of the text deltas.
 */
function streamEvents(
  base: object,
  content: ContentBlock[],
  usage: Usage | undefined,
  stopReason: string,
): { events: string[]; textDeltas: number[] } {
  const event = (type: string, fields: object = {}) => sse(type, { type, ...fields });
  const start = { ...base, content: [], stop_reason: null, stop_sequence: null };
  // The API reports a provisional output count at the start and the cumulative total on message_delta,
  // which also repeats the input-side counts.
  // The per-step breakdown is known only at the end: message_delta carries it.
  const startUsage = usage && {
    ...usage,
    output_tokens: Math.min(1, usage.output_tokens),
    iterations: undefined,
  };
  const deltaUsage = usage && {
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    cache_creation_input_tokens: usage.cache_creation_input_tokens,
    cache_read_input_tokens: usage.cache_read_input_tokens,
    ...(usage.iterations === undefined ? {} : { iterations: usage.iterations }),
  };
  const events = [event("message_start", { message: startUsage ? { ...start, usage: startUsage } : start })];
  const textDeltas: number[] = [];
  for (const [index, block] of content.entries()) {
    const delta = (fields: object) => event("content_block_delta", { index, delta: fields });
    if (block.type === "text") {
      events.push(event("content_block_start", { index, content_block: { type: "text", text: "" } }));
      if (index === 0) events.push(event("ping"));
      for (const text of wordsOf(block.text)) {
        textDeltas.push(events.length);
        events.push(delta({ type: "text_delta", text }));
      }
    } else if (block.type === "thinking") {
      const opening = { type: "thinking", thinking: "", signature: "" };
      events.push(event("content_block_start", { index, content_block: opening }));
      if (index === 0) events.push(event("ping"));
      for (const thinking of wordsOf(block.thinking))
        events.push(delta({ type: "thinking_delta", thinking }));
      events.push(delta({ type: "signature_delta", signature: block.signature }));
    } else {
      const opening = { type: "tool_use", id: block.id, name: block.name, input: {} };
      events.push(event("content_block_start", { index, content_block: opening }));
      if (index === 0) events.push(event("ping"));
      events.push(delta({ type: "input_json_delta", partial_json: JSON.stringify(block.input) }));
    }
    events.push(event("content_block_stop", { index }));
  }
  const stop = { stop_reason: stopReason, stop_sequence: null };
  events.push(
    event("message_delta", deltaUsage ? { delta: stop, usage: deltaUsage } : { delta: stop }),
    event("message_stop"),
  );
  return { events, textDeltas };
}

function sse(event: string, payload: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;
}

function errorTypeOf(status: number): string {
  if (status === 429) return "rate_limit_error";
  if (status === 529) return "overloaded_error";
  if (status >= 500) return "api_error";
  if (status === 404) return "not_found_error";
  if (status === 413) return "request_too_large";
  return "invalid_request_error";
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { type: "error", error: { type: errorTypeOf(status), message } });
}
