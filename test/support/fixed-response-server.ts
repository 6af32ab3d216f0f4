import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import type { TrustedClient } from "../../src/adapters/trusted-client.ts";
import { makeTempVault } from "./temp-vault.ts";

/**
 * A provider stand-in that answers every POST with what the test set: a JSON body, or a stream of
 * server-sent events. It lets a test return usage fields the shared stand-ins do not model
 * (audio / image modality counts, cache writes, server tool use, speed, service tier).
 */
export type Answer = { json: unknown } | { sse: Array<{ event?: string; data: unknown }>; done?: boolean };

export interface FixedServer {
  url: string;
  bodies: unknown[];
  answer(next: Answer): void;
  close(): Promise<void>;
}

export async function startFixedServer(): Promise<FixedServer> {
  let current: Answer = { json: {} };
  const bodies: unknown[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        bodies.push(text === "" ? undefined : JSON.parse(text));
      } catch {
        bodies.push(text);
      }
      const answer = current;
      if ("json" in answer) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(answer.json));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      for (const event of answer.sse) {
        if (event.event !== undefined) res.write(`event: ${event.event}\n`);
        res.write(`data: ${JSON.stringify(event.data)}\n\n`);
      }
      if (answer.done === true) res.write("data: [DONE]\n\n");
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    answer(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A test file's FixedServer, started before its tests; `trusted` gives each test a governed client on a fresh vault. */
export interface FixedServerFixture extends FixedServer {
  /** Builds the SDK client for the server's URL and trusts it on a new vault (both gone after the test). */
  trusted<T extends object>(
    make: (url: string) => T,
  ): Promise<{ client: TrustedClient<T>; vault: ReturnType<typeof makeTempVault> }>;
}

/** Starts one FixedServer for the calling test file (beforeAll / afterAll) and cleans vaults after each test. */
export function useFixedServer(budget = 10_000_000): FixedServerFixture {
  let started: FixedServer | undefined;
  const cleanups: Array<() => unknown> = [];
  const running = (): FixedServer => {
    if (started === undefined) throw new Error("useFixedServer(): the server starts in beforeAll");
    return started;
  };
  beforeAll(async () => {
    started = await startFixedServer();
  });
  afterAll(() => started?.close());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    get url() {
      return running().url;
    },
    get bodies() {
      return running().bodies;
    },
    answer: (next) => running().answer(next),
    close: () => running().close(),
    async trusted(make) {
      const vault = makeTempVault({ budget });
      cleanups.push(vault.cleanup);
      const client = await trust(make(running().url), { vaultBase: vault.base });
      cleanups.push(() => client.destroy());
      return { client, vault };
    },
  };
}
