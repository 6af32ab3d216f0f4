import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { CircuitOpenError } from "../../src/core/errors.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// Two OpenAI SDK clients on one vault that talk to different services (an Azure deployment, a
// self-hosted vLLM, a gateway) have a circuit each: one service's outage must not pause the other.
let healthy: OpenAIStandIn;
let failing: OpenAIStandIn;
const cleanups: Array<() => unknown> = [];
beforeAll(async () => {
  healthy = await startOpenAIStandIn();
  failing = await startOpenAIStandIn();
});
afterAll(async () => {
  await healthy.close();
  await failing.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("circuit breaker: isolation between services", () => {
  it("an outage of one OpenAI-compatible endpoint does not refuse calls to a different, healthy endpoint", async () => {
    const vault = makeTempVault({
      budget: 100_000,
      circuitBreaker: { failureThreshold: 2, resetTimeout: 60_000 },
    });
    cleanups.push(vault.cleanup);
    const selfHosted = await trust(
      new OpenAI({ baseURL: `${failing.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: vault.base,
      },
    );
    const openai = await trust(new OpenAI({ baseURL: `${healthy.url}/v1`, apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    cleanups.push(
      () => selfHosted.destroy(),
      () => openai.destroy(),
    );
    const request = {
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: "hi" }],
      max_tokens: 20,
    };

    failing.setBehaviour({ failStatus: { status: 503, times: 100 } });
    for (let i = 0; i < 2; i++) await expect(selfHosted.chat.completions.create(request)).rejects.toThrow();

    const result = await openai.chat.completions.create(request).then(
      () => "sent",
      (error: unknown) =>
        error instanceof CircuitOpenError ? `CircuitOpenError: ${error.message}` : String(error),
    );
    expect({ result, healthyServerSaw: healthy.requests.length }).toEqual({
      result: "sent",
      healthyServerSaw: 1,
    });

    // The failing endpoint is paused, and the refusal and the audit name it.
    const refusal = await selfHosted.chat.completions.create(request).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(CircuitOpenError);
    expect(refusal).toMatchObject({ provider: "openai", endpoint: failing.url });
    expect((refusal as Error).message).toContain(`Calls to openai at ${failing.url} are paused`);
    const opened = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "circuit_state");
    expect(opened?.data).toMatchObject({ provider: "openai", endpoint: failing.url, to: "open" });
  });

  it("a clone from withOptions({ baseURL }) gets the circuit of its own endpoint", async () => {
    const vault = makeTempVault({
      budget: 100_000,
      circuitBreaker: { failureThreshold: 1, resetTimeout: 60_000 },
    });
    cleanups.push(vault.cleanup);
    const client = await trust(new OpenAI({ baseURL: `${failing.url}/v1`, apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    cleanups.push(() => client.destroy());
    const request = {
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: "hi" }],
      max_tokens: 20,
    };
    failing.setBehaviour({ failStatus: { status: 503, times: 100 } });
    await expect(client.chat.completions.create(request)).rejects.toThrow();
    await expect(client.chat.completions.create(request)).rejects.toBeInstanceOf(CircuitOpenError);
    const elsewhere = client.withOptions({ baseURL: `${healthy.url}/v1` });
    const { receipt } = await elsewhere.chat.completions.create(request);
    expect(receipt.settled).toBe(true);
  });
});
