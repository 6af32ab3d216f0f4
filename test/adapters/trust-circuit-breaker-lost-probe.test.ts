import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { CircuitOpenError } from "../../src/core/errors.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README "Circuit breaker": after `resetTimeout` "one probe call is let through: its success closes
 * the circuit, its failure opens it again", and "How holds work": "A hold not settled within
 * holdTimeoutSeconds stops counting ... so a crashed process never locks budget". A probe whose
 * stream the caller never reads (a request handler that gave up, an exception between create and
 * the for-await) never reports back: the ledger lets its hold expire, but the breaker keeps the
 * probe slot taken for the life of the process, so the provider is refused forever with
 * retryAfterMs 0.
 */
let server: OpenAIStandIn;
const cleanups: Array<() => unknown> = [];
beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("circuit breaker: a probe call that never reports back", () => {
  it("an unread probe stream does not keep the provider's circuit half-open after its hold has expired", async () => {
    const vault = makeTempVault({
      budget: 100_000,
      holdTimeoutSeconds: 1,
      circuitBreaker: { failureThreshold: 1, resetTimeout: 50 },
    });
    cleanups.push(vault.cleanup);
    const client = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    cleanups.push(() => client.destroy());
    const request = {
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: "hi" }],
      max_tokens: 20,
    };

    server.setBehaviour({ failStatus: { status: 503, times: 1 } });
    await expect(client.chat.completions.create(request)).rejects.toThrow(); // opens the circuit
    await sleep(80);
    // The probe: the provider answers 200 and starts streaming, but the caller drops the stream.
    const abandoned = await client.chat.completions.create({ ...request, stream: true });
    expect(abandoned).toBeDefined();

    // Well past the hold timeout and many reset timeouts later, the provider is healthy.
    await sleep(1_300);
    const later = await client.chat.completions.create(request).then(
      () => "sent",
      (error: unknown) =>
        error instanceof CircuitOpenError
          ? `CircuitOpenError: ${error.message} (retryAfterMs ${error.retryAfterMs})`
          : String(error),
    );
    expect(later).toBe("sent");
  });
});
