import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { CircuitOpenError } from "../../src/core/errors.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function client(
  failureThreshold: number,
  resetTimeout: number,
  shared?: ReturnType<typeof makeTempVault>,
) {
  const vault =
    shared ?? makeTempVault({ budget: 100_000, circuitBreaker: { failureThreshold, resetTimeout } });
  const trusted = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 }), {
    vaultBase: vault.base,
  });
  cleanups.push(() => trusted.destroy(), vault.cleanup);
  const kinds = () =>
    readFileSync(vault.paths.auditLog, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { kind: string; data: Record<string, unknown> });
  return { trusted, kinds, vault };
}

const request = {
  model: "gpt-4o-mini",
  messages: [{ role: "user" as const, content: "hi" }],
  max_tokens: 50,
};

describe("the circuit breaker through trust()", () => {
  it("opens after consecutive provider failures and refuses calls before they reach the provider", async () => {
    const { trusted, kinds } = await client(2, 60_000);
    server.setBehaviour({ failStatus: { status: 500, times: 10 } });
    for (let i = 0; i < 2; i++) await expect(trusted.chat.completions.create(request)).rejects.toThrow();
    const sent = server.requests.length;
    const refused = await trusted.chat.completions.create(request).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(refused).toMatchObject({ provider: "openai", code: "CIRCUIT_OPEN" });
    expect(server.requests.length).toBe(sent);
    const events = kinds();
    expect(events.map((e) => e.kind)).toEqual([
      "call_failed",
      "call_failed",
      "circuit_state",
      "circuit_open",
    ]);
    expect(events[2]?.data).toMatchObject({ provider: "openai", from: "closed", to: "open" });
  });

  it("does not trip on the caller's own errors (400)", async () => {
    const { trusted } = await client(2, 60_000);
    server.setBehaviour({ failStatus: { status: 400, times: 5 } });
    for (let i = 0; i < 5; i++) await expect(trusted.chat.completions.create(request)).rejects.toThrow();
    server.setBehaviour({});
    await expect(trusted.chat.completions.create(request)).resolves.toMatchObject({
      receipt: { settled: true },
    });
  });

  it("after resetTimeout lets one probe through, and closes again when it succeeds", async () => {
    const { trusted, kinds } = await client(1, 50);
    server.setBehaviour({ failStatus: { status: 503, times: 1 } });
    await expect(trusted.chat.completions.create(request)).rejects.toThrow();
    await expect(trusted.chat.completions.create(request)).rejects.toBeInstanceOf(CircuitOpenError);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await expect(trusted.chat.completions.create(request)).resolves.toMatchObject({
      receipt: { settled: true },
    });
    const transitions = kinds()
      .filter((e) => e.kind === "circuit_state")
      .map((e) => e.data.to);
    expect(transitions).toEqual(["open", "half_open", "closed"]);
  });

  it("is shared by every client on the same vault in the process", async () => {
    const first = await client(2, 60_000);
    const second = await client(2, 60_000, first.vault);
    server.setBehaviour({ failStatus: { status: 500, times: 10 } });
    await expect(first.trusted.chat.completions.create(request)).rejects.toThrow();
    await expect(second.trusted.chat.completions.create(request)).rejects.toThrow();
    await expect(first.trusted.chat.completions.create(request)).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(second.trusted.chat.completions.create(request)).rejects.toBeInstanceOf(CircuitOpenError);
  });
});
