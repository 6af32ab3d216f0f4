import { GoogleGenAI } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { receiptOf } from "../../src/adapters/receipt-trail.ts";
import { trust } from "../../src/adapters/trust.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * README "Streams": "Closing the iterator before the first chunk aborts the request and settles
 * too." and "The receipt promise never hangs on a stream you never read".
 */
let server: GoogleStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  server = await startGoogleStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const model = "gemini-2.5-flash";

async function client(shape: "spec" | "native") {
  const vault = makeTempVault({ budget: 100_000 });
  const genai = new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: server.url } });
  const trusted = await trust(genai, { vaultBase: vault.base, shape });
  cleanups.push(async () => {
    await trusted.destroy();
    vault.cleanup();
  });
  return trusted;
}

describe("Google: a non-lazy stream closed before its first chunk", () => {
  it("aborts the request (the response body is cancelled), as the README promises", async () => {
    const gemini = await client("native");
    server.setBehaviour({ reply: "a b c d e f g h i j", chunkDelayMs: 100 });
    const original = globalThis.fetch;
    let cancelled = false;
    let signal: AbortSignal | undefined;
    globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const response = await original(input, init);
      signal = init?.signal ?? undefined;
      const source = response.body;
      if (source === null) return response;
      const reader = source.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const step = await reader.read();
          if (step.done) controller.close();
          else controller.enqueue(step.value);
        },
        cancel(reason) {
          cancelled = true;
          return reader.cancel(reason);
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    }) as typeof fetch;
    try {
      const stream = await gemini.models.generateContentStream({
        model,
        contents: "Say hello.",
        // Continuation off: the SDK sends the request eagerly, so there is a request to abort.
        config: { automaticContinuation: false } as never,
      });
      expect(server.requests.length).toBeGreaterThan(0);
      await stream[Symbol.asyncIterator]().return?.();
      const receipt = await receiptOf(stream);
      expect(receipt.settled).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      globalThis.fetch = original;
    }
    expect(cancelled || signal?.aborted === true).toBe(true);
  });
});
