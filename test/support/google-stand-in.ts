import { createHash } from "node:crypto";
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
  writeStream,
} from "./stand-in-server.ts";

export type { RecordedRequest } from "./stand-in-server.ts";

export interface GoogleStandInBehaviour {
  /** usageMetadata counts. Defaults: prompt = ceil(bytes of JSON.stringify(contents)/4), candidates = number of reply words. */
  promptTokens?: number;
  candidatesTokens?: number;
  /** Optional counts, sent only when set and non-zero, as the API omits zero fields. */
  cachedContentTokens?: number;
  thoughtsTokens?: number;
  toolUsePromptTokens?: number;
  /** Reply text; default "Hello from the stand-in." Streams send one chunk per word (words keep their trailing spaces). */
  reply?: string;
  /** Leave usageMetadata out of every generateContent response and stream chunk. */
  omitUsage?: boolean;
  /**
   * Which stream chunks carry usageMetadata: "every" (default, as Gemini does) sends the running
   * totals on every chunk; "last" sends it on the final chunk only.
   */
  streamUsage?: "every" | "last";
  /**
   * Answer with a functionCall part instead of the reply text, as a model asking for a tool does,
   * until the request's contents hold `rounds` (default 1) contents with functionResponse parts; then
   * answer with the reply. Stateless, so automatic function calling gets one call per round and a
   * final answer. A stream sends the functionCall as one chunk. Its candidates count defaults to a
   * quarter of the bytes of the functionCall JSON, rounded up.
   */
  functionCall?: { name: string; args?: Record<string, unknown>; rounds?: number };
  /**
   * Automatic continuation: answer with a `continuationToken` and finishReason "CONTINUATION" until
   * this many further hops were requested (each hop sends back the token it got), then finish
   * normally. Every hop reports its own usage. Stateless: the token names the hop.
   */
  continuationHops?: number;
  /** Stream: after this many chunks, destroy the socket. With fewer words, every chunk (STOP included) is sent and the socket still dies before the response ends. */
  failAfterChunks?: number;
  /** Answer the next `times` generateContent / streamGenerateContent calls with this HTTP status and a Google error body, then behave normally. */
  failStatus?: { status: number; times: number };
  /** Delay before responding (ms), and between stream chunks (ms). Default 0. */
  delayMs?: number;
  chunkDelayMs?: number;
}

export interface GoogleStandIn {
  /** e.g. "http://127.0.0.1:54321" (no trailing slash): pass it as httpOptions.baseUrl; the SDK appends /<apiVersion>/models/<model>:<method>. */
  url: string;
  /** Every request received, in order; `path` has no query string. Only the last REQUESTS_KEPT_MAX are kept. */
  requests: RecordedRequest[];
  /** Replaces the behaviour for requests that arrive afterwards; in-flight requests keep theirs. */
  setBehaviour(b: GoogleStandInBehaviour): void;
  /** Closes the server, all open sockets and pending timers; idempotent. */
  close(): Promise<void>;
}

// The SDK's apiVersion is "v1" by default in @google/genai 3; callers may pick v1beta or v1alpha.
const ROUTE = /^\/(?:v1|v1beta|v1alpha)\/models\/([^/:]+):([A-Za-z]+)$/;
const EMBEDDING_DIMENSIONS = 8;
const JSON_CONTENT_TYPE = "application/json; charset=UTF-8";
const FINISHED = { finishReason: "STOP" };
const CONTINUATION_PREFIX = "standin-hop-";
const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  413: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

// One member per kind, so that checking `kind` narrows a Call to a Generation or away from it.
type Generation =
  | { kind: "generateContent"; contents: unknown[]; continuationToken?: unknown }
  | { kind: "streamGenerateContent"; contents: unknown[]; continuationToken?: unknown };

type Call =
  | Generation
  | { kind: "countTokens"; contents: unknown[] }
  | { kind: "embedContent"; content: unknown }
  | { kind: "batchEmbedContents"; contents: unknown[] };

interface UsageMetadata {
  promptTokenCount: number;
  candidatesTokenCount: number;
  totalTokenCount: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
}

export async function startGoogleStandIn(
  behaviour: GoogleStandInBehaviour = {},
  options: StandInOptions = {},
): Promise<GoogleStandIn> {
  let current = behaviour;
  let failuresLeft = behaviour.failStatus?.times ?? 0;
  let responseSeq = 0;

  async function handle(req: IncomingMessage, res: ServerResponse, incoming: IncomingRequest): Promise<void> {
    const { path, query, text, body } = incoming;
    // Snapshot so a concurrent setBehaviour cannot change a response halfway through, and spend a
    // planned failure only on a well-formed generation call, before the delay, so failures keep arrival order.
    const b = current;
    const route = req.method === "POST" ? ROUTE.exec(path) : null;
    const model = route?.[1] ?? "";
    const call = route !== null && text !== undefined ? readCall(route[2] ?? "", body) : undefined;
    const generates = call?.kind === "generateContent" || call?.kind === "streamGenerateContent";
    const failure = generates && failuresLeft > 0 ? b.failStatus : undefined;
    if (failure !== undefined) failuresLeft -= 1;
    await delay(b.delayMs, server.shutdownSignal);

    if (route === null) return sendError(res, 404, `Unknown request URL: ${req.method} ${path}.`);
    if (text === undefined) return sendError(res, 413, `Request body exceeds ${BODY_BYTES_MAX} bytes.`);
    if (call === undefined) return sendError(res, 400, `Unknown method or malformed body: :${route[2]}.`);
    if (failure !== undefined) return sendError(res, failure.status, `Stand-in failure ${failure.status}.`);
    if (call.kind !== "generateContent" && call.kind !== "streamGenerateContent") {
      return sendJson(res, 200, answerOf(call, b), JSON_CONTENT_TYPE);
    }
    if (call.kind === "streamGenerateContent" && new URLSearchParams(query).get("alt") !== "sse") {
      return sendError(res, 400, "The stand-in streams only Server-Sent Events; add ?alt=sse.");
    }
    responseSeq += 1;
    const meta = { modelVersion: model, responseId: `standin${responseSeq}` };
    await respondToGeneration(res, call, b, meta, server.shutdownSignal);
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

async function respondToGeneration(
  res: ServerResponse,
  call: Generation,
  b: GoogleStandInBehaviour,
  meta: { modelVersion: string; responseId: string },
  signal: AbortSignal,
): Promise<void> {
  const functionCall = wantsFunctionCall(b, call.contents) ? b.functionCall : undefined;
  const reply = b.reply ?? DEFAULT_REPLY;
  // A functionCall reply is one part (one chunk when streamed); a text reply is one chunk per word.
  const words = functionCall === undefined ? (reply.match(/\s*\S+\s*/g) ?? []) : [""];
  const callJson = functionCall === undefined ? "" : JSON.stringify(functionCallPart(functionCall));
  const candidatesTokens =
    b.candidatesTokens ??
    (functionCall === undefined ? words.length : Math.ceil(Buffer.byteLength(callJson) / 4));
  const hop = hopOf(call.continuationToken);
  const continues = hop < (b.continuationHops ?? 0);
  const ending = continues
    ? { finishReason: "CONTINUATION", continuationToken: `${CONTINUATION_PREFIX}${hop + 1}` }
    : FINISHED;
  const responseOf = (text: string, sentTokens: number, finished: boolean, withUsage: boolean): object => {
    const parts = functionCall === undefined ? [{ text }] : [functionCallPart(functionCall)];
    const candidate = { content: { role: "model", parts }, index: 0 };
    const usage =
      b.omitUsage === true || !withUsage ? {} : { usageMetadata: usageOf(b, call.contents, sentTokens) };
    return { candidates: [finished ? { ...candidate, ...ending } : candidate], ...usage, ...meta };
  };
  if (call.kind === "generateContent") {
    return sendJson(res, 200, responseOf(reply, candidatesTokens, true, true), JSON_CONTENT_TYPE);
  }
  // By default every chunk carries the running usage, as Gemini does: the prompt count stays constant
  // and the candidates count grows with the words sent so far, reaching the final count on the last chunk.
  const parts = words.length === 0 ? [""] : words;
  const events = parts.map((text, index) => {
    const last = index === parts.length - 1;
    const sentTokens = last ? candidatesTokens : Math.round((candidatesTokens * (index + 1)) / parts.length);
    const withUsage = last || b.streamUsage !== "last";
    return `data: ${JSON.stringify(responseOf(text, sentTokens, last, withUsage))}\r\n\r\n`;
  });
  const failAfter = b.failAfterChunks === undefined ? undefined : Math.max(0, b.failAfterChunks);
  await writeStream(res, events, b.chunkDelayMs ?? 0, failAfter, signal);
}

function functionCallPart(call: NonNullable<GoogleStandInBehaviour["functionCall"]>): object {
  return { functionCall: { name: call.name, args: call.args ?? {} } };
}

/** True while fewer contents carry functionResponse parts than the behaviour's function-call rounds. */
function wantsFunctionCall(b: GoogleStandInBehaviour, contents: unknown[]): boolean {
  if (b.functionCall === undefined) return false;
  const answered = contents.filter((content) => {
    const parts = (content as { parts?: unknown } | null)?.parts;
    return (
      Array.isArray(parts) &&
      parts.some((part) => (part as { functionResponse?: unknown } | null)?.functionResponse != null)
    );
  }).length;
  return answered < (b.functionCall.rounds ?? 1);
}

/** The hop a continuation token names: 0 for the first request (no token), n for "standin-hop-n". */
function hopOf(token: unknown): number {
  if (typeof token !== "string" || !token.startsWith(CONTINUATION_PREFIX)) return 0;
  const hop = Number(token.slice(CONTINUATION_PREFIX.length));
  return Number.isSafeInteger(hop) && hop > 0 ? hop : 0;
}

/** The call a known method names, or undefined when the method is unknown or the body lacks what it needs. */
function readCall(method: string, body: unknown): Call | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const fields = body as Record<string, unknown>;
  switch (method) {
    case "generateContent":
    case "streamGenerateContent":
      return Array.isArray(fields.contents)
        ? { kind: method, contents: fields.contents, continuationToken: fields.continuationToken }
        : undefined;
    case "countTokens":
      return Array.isArray(fields.contents) ? { kind: method, contents: fields.contents } : undefined;
    case "embedContent":
      return typeof fields.content === "object" && fields.content !== null
        ? { kind: method, content: fields.content }
        : undefined;
    case "batchEmbedContents": {
      if (!Array.isArray(fields.requests)) return undefined;
      const contents = fields.requests.map((request: { content?: unknown } | null) => request?.content);
      return contents.every((content) => typeof content === "object" && content !== null)
        ? { kind: method, contents }
        : undefined;
    }
    default:
      return undefined;
  }
}

/** The JSON answer to a call that generates nothing. */
function answerOf(call: Exclude<Call, Generation>, b: GoogleStandInBehaviour): object {
  if (call.kind === "countTokens") return { totalTokens: promptTokensOf(b, call.contents) };
  if (call.kind === "embedContent") return { embedding: embeddingOf(call.content) };
  return { embeddings: call.contents.map(embeddingOf) };
}

function promptTokensOf(b: GoogleStandInBehaviour, contents: unknown[]): number {
  return b.promptTokens ?? Math.ceil(Buffer.byteLength(JSON.stringify(contents)) / 4);
}

/** Gemini's total is prompt + candidates + thoughts + tool-use prompt; cached tokens are part of the prompt. */
function usageOf(b: GoogleStandInBehaviour, contents: unknown[], candidatesTokens: number): UsageMetadata {
  const promptTokenCount = promptTokensOf(b, contents);
  const thoughts = b.thoughtsTokens ?? 0;
  const toolUse = b.toolUsePromptTokens ?? 0;
  const cached = b.cachedContentTokens ?? 0;
  return {
    promptTokenCount,
    candidatesTokenCount: candidatesTokens,
    totalTokenCount: promptTokenCount + candidatesTokens + thoughts + toolUse,
    ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
    ...(toolUse > 0 ? { toolUsePromptTokenCount: toolUse } : {}),
  };
}

/** A deterministic vector in [-1, 1), so the same content always embeds the same way and different content differently. */
function embeddingOf(content: unknown): { values: number[] } {
  const digest = createHash("sha256").update(JSON.stringify(content)).digest();
  return { values: [...digest.subarray(0, EMBEDDING_DIMENSIONS)].map((byte) => (byte - 128) / 128) };
}

function sendError(res: ServerResponse, status: number, message: string): void {
  const name = STATUS_NAMES[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION");
  sendJson(res, status, { error: { code: status, message, status: name } }, JSON_CONTENT_TYPE);
}
