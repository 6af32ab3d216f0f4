import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import type { TrustConfig } from "../../src/core/config.ts";
import { CircuitOpenError } from "../../src/core/errors.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// Circuits as clients meet them: a probe that never reports back, and clients of one provider
// that talk to different services (an Azure deployment, a self-hosted vLLM, a gateway).
let healthy: OpenAIStandIn;
let failing: OpenAIStandIn;
const cleanups: Array<() => unknown> = [];
beforeAll(async () => {
  [healthy, failing] = await Promise.all([startOpenAIStandIn(), startOpenAIStandIn()]);
});
afterAll(async () => {
  await Promise.all([healthy.close(), failing.close()]);
});
afterEach(async () => {
  healthy.setBehaviour({});
  failing.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const request = {
  model: "gpt-4o-mini",
  messages: [{ role: "user" as const, content: "hi" }],
  max_tokens: 20,
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function breakerVault(config: Partial<TrustConfig>) {
  const vault = makeTempVault({ budget: 100_000, ...config });
  cleanups.push(vault.cleanup);
  return vault;
}

async function clientOf(server: OpenAIStandIn, vaultBase: string) {
  const client = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 }), {
    vaultBase,
  });
  cleanups.push(() => client.destroy());
  return client;
}

describe("circuit breaker: a probe call that never reports back", () => {
  it("an unread probe stream does not keep the circuit half-open once its hold has expired", async () => {
    const vault = breakerVault({
      holdTimeoutSeconds: 1,
      circuitBreaker: { failureThreshold: 1, resetTimeout: 50 },
    });
    const client = await clientOf(healthy, vault.base);
    healthy.setBehaviour({ failStatus: { status: 503, times: 1 } });
    await expect(client.chat.completions.create(request)).rejects.toThrow(); // opens the circuit
    await sleep(80);
    // The probe: the provider answers 200 and starts streaming, but the caller drops the stream.
    const abandoned = await client.chat.completions.create({ ...request, stream: true });
    expect(abandoned).toBeDefined();
    await expect(client.chat.completions.create(request)).rejects.toBeInstanceOf(CircuitOpenError);

    await sleep(1_300); // past the hold timeout: the next call is the probe, and it closes the circuit
    const { receipt } = await client.chat.completions.create(request);
    expect(receipt.settled).toBe(true);
  });
});

describe("circuit breaker: one circuit per endpoint", () => {
  it("an outage of one OpenAI-compatible endpoint does not refuse calls to a different, healthy one", async () => {
    const vault = breakerVault({ circuitBreaker: { failureThreshold: 2, resetTimeout: 60_000 } });
    const selfHosted = await clientOf(failing, vault.base);
    const openai = await clientOf(healthy, vault.base);
    failing.setBehaviour({ failStatus: { status: 503, times: 100 } });
    for (let i = 0; i < 2; i++) await expect(selfHosted.chat.completions.create(request)).rejects.toThrow();

    const before = healthy.requests.length;
    const { receipt } = await openai.chat.completions.create(request);
    expect(receipt.settled).toBe(true);
    expect(healthy.requests.length - before).toBe(1);

    // The failing endpoint is paused, and the refusal and the audit name it.
    const refusal = await selfHosted.chat.completions.create(request).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(CircuitOpenError);
    expect(refusal).toMatchObject({ provider: "openai", endpoint: failing.url });
    expect((refusal as Error).message).toContain(`Calls to openai at ${failing.url} are paused`);
    const opened = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "circuit_state");
    expect(opened?.data).toMatchObject({ provider: "openai", endpoint: failing.url, to: "open" });
  });

  it("a clone from withOptions({ baseURL }) gets the circuit of its own endpoint", async () => {
    const vault = breakerVault({ circuitBreaker: { failureThreshold: 1, resetTimeout: 60_000 } });
    const client = await clientOf(failing, vault.base);
    failing.setBehaviour({ failStatus: { status: 503, times: 100 } });
    await expect(client.chat.completions.create(request)).rejects.toThrow();
    await expect(client.chat.completions.create(request)).rejects.toBeInstanceOf(CircuitOpenError);
    const elsewhere = client.withOptions({ baseURL: `${healthy.url}/v1` });
    const { receipt } = await elsewhere.chat.completions.create(request);
    expect(receipt.settled).toBe(true);
  });
});
