import type { ServerResponse } from "node:http";
import { type RecordedRequest, sendJson, startStandInServer } from "./stand-in-server.ts";

/**
 * A provider stand-in that never answers: every request is held open until the client closes it
 * (or the server shuts down), so a call is still in flight for as long as a test needs. It tells
 * which requests the client closed, as the provider would see an aborted call.
 */
export interface HeldOpenServer {
  /** e.g. "http://127.0.0.1:54321" (no trailing slash); any path is held. */
  url: string;
  requests: RecordedRequest[];
  /**
   * "silent": nothing is sent (a non-streaming call still generating). "headers": a 200
   * text/event-stream head is sent, then nothing (a stream that has begun but sent no event yet).
   */
  setMode(mode: "silent" | "headers"): void;
  /** Resolves once `count` requests (in all) have arrived. */
  arrived(count: number): Promise<void>;
  /** Resolves once `count` held requests (in all) were closed by the client before any answer ended. */
  closedByClient(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startHeldOpenServer(): Promise<HeldOpenServer> {
  let mode: "silent" | "headers" = "silent";
  let arrivedCount = 0;
  let closedCount = 0;
  const waiters: Array<() => void> = [];
  const changed = (): void => {
    for (const wake of waiters.splice(0)) wake();
  };
  const until = async (reached: () => boolean): Promise<void> => {
    while (!reached()) await new Promise<void>((resolve) => waiters.push(resolve));
  };

  const server = await startStandInServer({
    async handle(_req, res) {
      arrivedCount += 1;
      changed();
      if (mode === "headers") {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        res.flushHeaders();
      }
      await new Promise<void>((resolve) => {
        res.once("close", () => {
          // The response never ended, so a close before shutdown is the client going away.
          if (!server.shutdownSignal.aborted) closedCount += 1;
          changed();
          resolve();
        });
      });
    },
    sendError: (res: ServerResponse, status: number, message: string) =>
      sendJson(res, status, { error: { message } }),
  });

  return {
    url: server.url,
    requests: server.requests,
    setMode(next) {
      mode = next;
    },
    arrived: (count) => until(() => arrivedCount >= count),
    closedByClient: (count) => until(() => closedCount >= count),
    close: server.close,
  };
}
