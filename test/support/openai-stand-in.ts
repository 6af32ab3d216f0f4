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

export interface StandInBehaviour {
  /** Tokens reported as usage. Defaults: prompt = ceil(bytes of JSON.stringify(messages)/4), completion = number of content words emitted. */
  promptTokens?: number;
  completionTokens?: number;
  cachedTokens?: number;
  reasoningTokens?: number;
  /** Reply text; default "Hello from the stand-in." Streams split it into one chunk per word (words keep their trailing spaces). */
  reply?: string;
  /** Stream text deltas exactly as given (one chunk each) instead of one per word; the reply is their concatenation. Overrides `reply`. */
  replyChunks?: string[];
  /** Omit the usage object entirely (non-stream), or never send the usage chunk (stream) even if include_usage was asked. */
  omitUsage?: boolean;
  /** Stream: put a cumulative usage object on EVERY chunk (some OpenAI-compatible servers do this) instead of one final usage chunk. */
  cumulativeUsage?: boolean;
  /** Stream: after this many content chunks, destroy the socket (simulates a mid-stream server failure). If the reply has fewer words, the socket dies after the last word, before finish_reason. */
  failAfterChunks?: number;
  /** Reply with this HTTP status (e.g. 429, 500) and an OpenAI-style error body, for the next `times` requests, then behave normally. retryAfterMs sets a `retry-after-ms` header. */
  failStatus?: { status: number; times: number; retryAfterMs?: number };
  /** Delay before responding (ms), and between stream chunks (ms). Default 0. */
  delayMs?: number;
  chunkDelayMs?: number;
  /**
   * Chat: a request with no `tool` role message is answered with a call to this function
   * (finish_reason "tool_calls"; arguments default to "{}"); a request that carries a tool result
   * is answered with the reply text, so the SDK's runTools() makes exactly one tool round.
   */
  toolCall?: { name: string; arguments?: string };
}

export interface OpenAIStandIn {
  /** e.g. "http://127.0.0.1:54321" (no trailing slash, no /v1). */
  url: string;
  /** Every request received, in order; only the last REQUESTS_KEPT_MAX are kept. */
  requests: RecordedRequest[];
  /** Replaces the behaviour for requests that arrive afterwards; in-flight requests keep theirs. */
  setBehaviour(b: StandInBehaviour): void;
  /** Closes the server and all open sockets; idempotent. */
  close(): Promise<void>;
}

const CHAT_PATH = "/v1/chat/completions";
const EMBEDDINGS_PATH = "/v1/embeddings";
const RESPONSES_PATH = "/v1/responses";
const MODELS_PATH = "/v1/models";
/** What GET /v1/models lists. */
export const STAND_IN_MODELS = ["gpt-4o-mini", "gpt-4o", "o4-mini", "text-embedding-3-small"];

interface ChatRequest {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  messages: unknown[];
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
}

export async function startOpenAIStandIn(
  behaviour: StandInBehaviour = {},
  options: StandInOptions = {},
): Promise<OpenAIStandIn> {
  let current = behaviour;
  let failuresLeft = behaviour.failStatus?.times ?? 0;
  let responseSeq = 0;

  async function handle(req: IncomingMessage, res: ServerResponse, incoming: IncomingRequest): Promise<void> {
    const { path, text, body } = incoming;
    // Snapshot so a concurrent setBehaviour cannot change a response halfway through, and spend a
    // planned failure only on a well-formed chat or responses request, before the delay, so
    // failures keep arrival order.
    const b = current;
    const isChat = req.method === "POST" && path === CHAT_PATH;
    const isResponses = req.method === "POST" && path === RESPONSES_PATH;
    const chat = isChat && text !== undefined ? readChatRequest(body) : undefined;
    const responses = isResponses && text !== undefined ? readResponsesRequest(body) : undefined;
    const wellFormed = chat !== undefined || responses !== undefined;
    const failure = wellFormed && failuresLeft > 0 ? b.failStatus : undefined;
    if (failure !== undefined) failuresLeft -= 1;
    await delay(b.delayMs, server.shutdownSignal);

    if (req.method === "POST" && path === EMBEDDINGS_PATH) return respondToEmbeddings(res, body, b);
    if (req.method === "GET" && path === MODELS_PATH) return respondToModels(res);
    if (isResponses) {
      if (text === undefined) return sendError(res, 413, `Request body exceeds ${BODY_BYTES_MAX} bytes.`);
      if (responses === undefined) {
        return sendError(res, 400, "Body must be a JSON object with a string `model` and an `input`.");
      }
      if (failure !== undefined) return sendFailure(res, failure);
      responseSeq += 1;
      return respondToResponses(res, responses, b, responseSeq, server.shutdownSignal);
    }
    if (!isChat) return sendError(res, 404, `Unknown request URL: ${req.method} ${path}.`, "unknown_url");
    if (text === undefined) return sendError(res, 413, `Request body exceeds ${BODY_BYTES_MAX} bytes.`);
    if (chat === undefined) {
      return sendError(res, 400, "Body must be a JSON object with a string `model` and an array `messages`.");
    }
    if (failure !== undefined) return sendFailure(res, failure);
    responseSeq += 1;
    const receivedNs = options.stampTimes === true ? incoming.receivedNs : undefined;
    await respondToChat(res, chat, b, `chatcmpl-standin${responseSeq}`, server.shutdownSignal, receivedNs);
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

async function respondToChat(
  res: ServerResponse,
  chat: ChatRequest,
  b: StandInBehaviour,
  id: string,
  signal: AbortSignal,
  receivedNs?: bigint,
): Promise<void> {
  const base = { id, created: Math.floor(Date.now() / 1000), model: chat.model };
  const toolCall = b.toolCall !== undefined && !hasToolResult(chat.messages) ? b.toolCall : undefined;
  if (toolCall !== undefined) return respondWithToolCall(res, chat, b, base, toolCall, signal);
  const { reply, words } = replyOf(b);
  const usage = usageOf(b, chat.messages, words.length);
  if (!chat.stream) {
    const message = { role: "assistant", content: reply, refusal: null };
    const choice = { index: 0, message, finish_reason: "stop", logprobs: null };
    const completion = { ...base, object: "chat.completion", choices: [choice] };
    const stamped = receivedNs === undefined ? completion : stampTimes(completion, receivedNs);
    return sendJson(res, 200, b.omitUsage === true ? stamped : { ...stamped, usage });
  }
  const events = streamEvents(base, words, usage, usageMode(b, chat));
  // Dies right after the event carrying the n-th word (the role chunk comes first), before finish_reason.
  const failAfter =
    b.failAfterChunks === undefined ? undefined : Math.min(b.failAfterChunks, words.length) + 1;
  await writeStream(res, events, b.chunkDelayMs ?? 0, failAfter, signal);
}

/** Adds when the request arrived and when the answer leaves (StandInOptions.stampTimes). */
function stampTimes(completion: object, receivedNs: bigint): object {
  const times = { received_ns: String(receivedNs), sent_ns: String(process.hrtime.bigint()) };
  return { ...completion, x_stand_in: times };
}

/** The reply text and the deltas a stream sends it in. */
function replyOf(b: StandInBehaviour): { reply: string; words: string[] } {
  if (b.replyChunks !== undefined) return { reply: b.replyChunks.join(""), words: [...b.replyChunks] };
  const reply = b.reply ?? DEFAULT_REPLY;
  return { reply, words: wordsOf(reply) };
}

function hasToolResult(messages: unknown[]): boolean {
  return messages.some((message) => (message as { role?: unknown } | null)?.role === "tool");
}

/** A chat answer that calls one function: the whole call, or a stream of its name then its arguments. */
async function respondWithToolCall(
  res: ServerResponse,
  chat: ChatRequest,
  b: StandInBehaviour,
  base: { id: string },
  call: { name: string; arguments?: string },
  signal: AbortSignal,
): Promise<void> {
  const args = call.arguments ?? "{}";
  const callId = `call_${base.id}`;
  const usage = usageOf(b, chat.messages, Math.ceil(Buffer.byteLength(args) / 4));
  if (!chat.stream) {
    const toolCalls = [{ id: callId, type: "function", function: { name: call.name, arguments: args } }];
    const message = { role: "assistant", content: null, refusal: null, tool_calls: toolCalls };
    const choice = { index: 0, message, finish_reason: "tool_calls", logprobs: null };
    const completion = { ...base, object: "chat.completion", choices: [choice] };
    return sendJson(res, 200, b.omitUsage === true ? completion : { ...completion, usage });
  }
  const deltas: Array<{ delta: object; finish_reason: string | null }> = [
    {
      delta: {
        role: "assistant",
        content: null,
        tool_calls: [
          { index: 0, id: callId, type: "function", function: { name: call.name, arguments: "" } },
        ],
      },
      finish_reason: null,
    },
    { delta: { tool_calls: [{ index: 0, function: { arguments: args } }] }, finish_reason: null },
    { delta: {}, finish_reason: "tool_calls" },
  ];
  const mode = usageMode(b, chat) === "none" ? "none" : "final";
  const events = deltas.map(({ delta, finish_reason }) => {
    const chunk = {
      ...base,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, logprobs: null, finish_reason }],
    };
    return sse(mode === "final" ? { ...chunk, usage: null } : chunk);
  });
  if (mode === "final") events.push(sse({ ...base, object: "chat.completion.chunk", choices: [], usage }));
  events.push("data: [DONE]\n\n");
  await writeStream(res, events, b.chunkDelayMs ?? 0, undefined, signal);
}

function readChatRequest(body: unknown): ChatRequest | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const fields = body as Record<string, unknown>;
  if (typeof fields.model !== "string" || !Array.isArray(fields.messages)) return undefined;
  const streamOptions = fields.stream_options as { include_usage?: unknown } | null | undefined;
  const includeUsage = streamOptions?.include_usage === true;
  return { model: fields.model, stream: fields.stream === true, includeUsage, messages: fields.messages };
}

function usageOf(b: StandInBehaviour, messages: unknown[], wordCount: number): Usage {
  const promptTokens = b.promptTokens ?? Math.ceil(Buffer.byteLength(JSON.stringify(messages)) / 4);
  const completionTokens = b.completionTokens ?? wordCount;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: b.cachedTokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: b.reasoningTokens ?? 0 },
  };
}

type UsageMode = "none" | "final" | "cumulative";

function usageMode(b: StandInBehaviour, chat: ChatRequest): UsageMode {
  if (b.omitUsage === true) return "none";
  if (b.cumulativeUsage === true) return "cumulative";
  return chat.includeUsage ? "final" : "none";
}

/** SSE events in wire order: role chunk, one chunk per word, finish chunk, optional usage chunk, [DONE]. */
function streamEvents(base: object, words: string[], usage: Usage, mode: UsageMode): string[] {
  const deltas: Array<{ delta: object; finish_reason: string | null }> = [
    { delta: { role: "assistant", content: "" }, finish_reason: null },
    ...words.map((content) => ({ delta: { content }, finish_reason: null })),
    { delta: {}, finish_reason: "stop" },
  ];
  const events = deltas.map(({ delta, finish_reason }, step) => {
    const choices = [{ index: 0, delta, logprobs: null, finish_reason }];
    const chunk = { ...base, object: "chat.completion.chunk", choices };
    if (mode === "none") return sse(chunk);
    if (mode === "final") return sse({ ...chunk, usage: null });
    // Cumulative: completion tokens grow with the words sent so far and reach the final count on the last one.
    const sentWords = Math.min(step, words.length);
    const completionTokens =
      sentWords === words.length
        ? usage.completion_tokens
        : Math.round((usage.completion_tokens * sentWords) / words.length);
    const total_tokens = usage.prompt_tokens + completionTokens;
    return sse({ ...chunk, usage: { ...usage, completion_tokens: completionTokens, total_tokens } });
  });
  if (mode === "final") events.push(sse({ ...base, object: "chat.completion.chunk", choices: [], usage }));
  events.push("data: [DONE]\n\n");
  return events;
}

function sse(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

function sendFailure(res: ServerResponse, failure: { status: number; retryAfterMs?: number }): void {
  if (failure.retryAfterMs !== undefined) res.setHeader("retry-after-ms", String(failure.retryAfterMs));
  sendError(res, failure.status, `Stand-in failure with status ${failure.status}.`);
}

function sendError(res: ServerResponse, status: number, message: string, code?: string): void {
  const type = status === 429 ? "requests" : status >= 500 ? "server_error" : "invalid_request_error";
  const errorCode = code ?? (status === 429 ? "rate_limit_exceeded" : null);
  sendJson(res, status, { error: { message, type, param: null, code: errorCode } });
}

/** POST /v1/embeddings: one 4-value vector per input; usage counts prompt tokens only (there is no output). */
function respondToEmbeddings(res: ServerResponse, body: unknown, b: StandInBehaviour): void {
  const { model, input } = (body ?? {}) as { model?: unknown; input?: unknown };
  if (typeof model !== "string" || input === undefined) {
    sendError(res, 400, "Body must be a JSON object with a string `model` and an `input`.");
    return;
  }
  const inputs = Array.isArray(input) && input.some((item) => typeof item !== "number") ? input : [input];
  const promptTokens = b.promptTokens ?? Math.ceil(Buffer.byteLength(JSON.stringify(input)) / 4);
  const payload = {
    object: "list",
    model,
    data: inputs.map((_, index) => ({ object: "embedding", index, embedding: [0.1, 0.2, 0.3, 0.4] })),
    ...(b.omitUsage ? {} : { usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } }),
  };
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(payload));
}

/** GET /v1/models: a fixed list, outside anything usertrust governs. */
function respondToModels(res: ServerResponse): void {
  const created = Math.floor(Date.now() / 1000);
  const data = STAND_IN_MODELS.map((id) => ({ id, object: "model", created, owned_by: "stand-in" }));
  sendJson(res, 200, { object: "list", data });
}

interface ResponsesRequest {
  model: string;
  stream: boolean;
  input: unknown;
  instructions: string | null;
  maxOutputTokens: number | null;
  text: unknown;
}

interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

function readResponsesRequest(body: unknown): ResponsesRequest | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const fields = body as Record<string, unknown>;
  if (
    typeof fields.model !== "string" ||
    (typeof fields.input !== "string" && !Array.isArray(fields.input))
  ) {
    return undefined;
  }
  return {
    model: fields.model,
    stream: fields.stream === true,
    input: fields.input,
    instructions: typeof fields.instructions === "string" ? fields.instructions : null,
    maxOutputTokens: typeof fields.max_output_tokens === "number" ? fields.max_output_tokens : null,
    text: fields.text ?? { format: { type: "text" } },
  };
}

/** Defaults: input = ceil(bytes of JSON.stringify([instructions, input])/4), output = words emitted. Cached and reasoning tokens are inside them, as OpenAI reports them. */
function responsesUsageOf(b: StandInBehaviour, request: ResponsesRequest, wordCount: number): ResponsesUsage {
  const prompt = JSON.stringify([request.instructions, request.input]);
  const inputTokens = b.promptTokens ?? Math.ceil(Buffer.byteLength(prompt) / 4);
  const outputTokens = b.completionTokens ?? wordCount;
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: b.cachedTokens ?? 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: b.reasoningTokens ?? 0 },
    total_tokens: inputTokens + outputTokens,
  };
}

/**
 * POST /v1/responses: one assistant message. Streams follow the wire order of the real API:
 * response.created, response.in_progress, output_item.added, content_part.added, one
 * output_text.delta per word, output_text.done, content_part.done, output_item.done,
 * response.completed (whose response carries the usage). Every event has `type` and `sequence_number`.
 */
async function respondToResponses(
  res: ServerResponse,
  request: ResponsesRequest,
  b: StandInBehaviour,
  seq: number,
  signal: AbortSignal,
): Promise<void> {
  const { reply, words } = replyOf(b);
  const usage = b.omitUsage === true ? null : responsesUsageOf(b, request, words.length);
  const itemId = `msg_standin${seq}`;
  const part = (text: string) => ({ type: "output_text", text, annotations: [], logprobs: [] });
  const message = (status: string, content: object[]) => ({
    id: itemId,
    type: "message",
    status,
    role: "assistant",
    content,
  });
  const response = (status: string, output: object[], usage: ResponsesUsage | null) => ({
    id: `resp_standin${seq}`,
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: request.instructions,
    max_output_tokens: request.maxOutputTokens,
    metadata: {},
    model: request.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: request.text,
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage,
    user: null,
  });
  const done = message("completed", [part(reply)]);
  if (!request.stream) return sendJson(res, 200, response("completed", [done], usage));

  const at = { item_id: itemId, output_index: 0, content_index: 0 };
  const payloads: Array<{ type: string; [field: string]: unknown }> = [
    { type: "response.created", response: response("in_progress", [], null) },
    { type: "response.in_progress", response: response("in_progress", [], null) },
    { type: "response.output_item.added", output_index: 0, item: message("in_progress", []) },
    { type: "response.content_part.added", ...at, part: part("") },
    ...words.map((delta) => ({ type: "response.output_text.delta", ...at, delta, logprobs: [] })),
    { type: "response.output_text.done", ...at, text: reply, logprobs: [] },
    { type: "response.content_part.done", ...at, part: part(reply) },
    { type: "response.output_item.done", output_index: 0, item: done },
    { type: "response.completed", response: response("completed", [done], usage) },
  ];
  const events = payloads.map((payload, sequence_number) => {
    const event = { ...payload, sequence_number };
    return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
  });
  // Dies right after the event carrying the n-th word (four lifecycle and item events come first).
  const failAfter =
    b.failAfterChunks === undefined ? undefined : Math.min(b.failAfterChunks, words.length) + 4;
  await writeStream(res, events, b.chunkDelayMs ?? 0, failAfter, signal);
}
