import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** The HTTP scaffolding the provider stand-ins share: the server, body reading, request recording and shutdown. */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, the raw text when it is not JSON, or undefined when empty or too large. */
  body: unknown;
}

export interface StandInOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Record every request in `requests` (default true). */
  record?: boolean;
  /**
   * Whole chat completions carry `x_stand_in: { received_ns, sent_ns }`: process.hrtime readings
   * (one monotonic clock for every process on the machine) taken when the request arrived and
   * just before the answer was sent, so a client can tell its own time before and after the server's.
   */
  stampTimes?: boolean;
}

/** What the server has read of a request before the stand-in's handler sees it. */
export interface IncomingRequest {
  /** The URL path without the query string. */
  path: string;
  /** The text between the first and a second `?`, or "". */
  query: string;
  /** The body text, or undefined when it exceeds BODY_BYTES_MAX. */
  text: string | undefined;
  /** Parsed JSON, the raw text when it is not JSON, or undefined when empty or too large. */
  body: unknown;
  /** process.hrtime.bigint() when the request's headers had arrived. */
  receivedNs: bigint;
}

export type SendError = (res: ServerResponse, status: number, message: string) => void;

export interface StandInServer {
  /** e.g. "http://127.0.0.1:54321" (no trailing slash). */
  url: string;
  /** Every request received, in order; only the last REQUESTS_KEPT_MAX are kept. */
  requests: RecordedRequest[];
  /** Aborted on close, which ends pending delays and streams. */
  shutdownSignal: AbortSignal;
  /** Closes the server, all open sockets and pending timers; idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_REPLY = "Hello from the stand-in.";
export const BODY_BYTES_MAX = 16 * 1024 * 1024;
const REQUESTS_KEPT_MAX = 10_000;
// Node's fetch (undici) honours the server's Keep-Alive hint, so a long timeout lets a benchmark reuse
// its sockets instead of reconnecting every few seconds.
const KEEP_ALIVE_TIMEOUT_MS = 60_000;
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };

/**
 * Listens on 127.0.0.1, reads and records each request, then hands it to `handle`. A handler that throws
 * gets a 500 through `sendError`, or a destroyed socket once headers are sent or the server is closing.
 */
export async function startStandInServer(
  options: StandInOptions & {
    handle: (req: IncomingMessage, res: ServerResponse, incoming: IncomingRequest) => Promise<void>;
    sendError: SendError;
  },
): Promise<StandInServer> {
  const record = options.record ?? true;
  const requests: RecordedRequest[] = [];
  const shutdown = new AbortController();

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedNs = process.hrtime.bigint();
    const text = await readBody(req);
    const [path = "/", query = ""] = (req.url ?? "/").split("?", 2);
    const body = parseJson(text);
    if (record) {
      requests.push({ method: req.method ?? "", path, headers: req.headers, body });
      if (requests.length > REQUESTS_KEPT_MAX) requests.splice(0, requests.length - REQUESTS_KEPT_MAX);
    }
    await options.handle(req, res, { path, query, text, body, receivedNs });
  }

  const server = createServer((req, res) => {
    receive(req, res).catch((error: unknown) => {
      if (res.headersSent || shutdown.signal.aborted) res.destroy();
      else {
        const message = error instanceof Error ? error.message : String(error);
        options.sendError(res, 500, `Stand-in crashed: ${message}`);
      }
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;

  server.listen(options.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    shutdownSignal: shutdown.signal,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        shutdown.abort();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Resolves to the body text, or undefined when it exceeds BODY_BYTES_MAX (the rest is drained, not kept). */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes <= BODY_BYTES_MAX) chunks.push(chunk);
  }
  return bytes > BODY_BYTES_MAX ? undefined : Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Waits `ms` when it is positive; rejects when the server shuts down first. */
export async function delay(ms: number | undefined, signal: AbortSignal): Promise<void> {
  if ((ms ?? 0) > 0) await sleep(ms, undefined, { signal });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  payload: unknown,
  contentType = "application/json",
): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Writes all SSE events, or only the first `failAfter` and then destroys the socket before the response
 * ends (simulating a mid-stream failure). `chunkDelayMs` spaces the events out.
 */
export async function writeStream(
  res: ServerResponse,
  events: string[],
  chunkDelayMs: number,
  failAfter: number | undefined,
  signal: AbortSignal,
): Promise<void> {
  res.writeHead(200, SSE_HEADERS);
  const sent = failAfter === undefined ? events : events.slice(0, failAfter);
  if (chunkDelayMs <= 0) {
    // One write keeps the common path as cheap as a JSON response. An empty write still sends the headers.
    if (failAfter === undefined) res.end(sent.join(""));
    else res.write(sent.join(""), () => res.destroy());
    return;
  }
  for (const [index, event] of sent.entries()) {
    if (index > 0) await sleep(chunkDelayMs, undefined, { signal });
    if (res.destroyed) return;
    res.write(event);
  }
  if (failAfter === undefined) res.end();
  else res.write("", () => res.destroy());
}

/** The reply split into words that keep their surrounding whitespace; a reply without words is one "word". */
export function wordsOf(reply: string): string[] {
  return reply.match(/\s*\S+\s*/g) ?? (reply === "" ? [] : [reply]);
}
