import Anthropic, { AnthropicError } from "@anthropic-ai/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let server: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  server = await startAnthropicStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// Output this long may take more than 10 minutes without streaming: the SDK refuses to send it.
const longCall = {
  model: "claude-sonnet-4-6",
  max_tokens: 64_000,
  messages: [{ role: "user" as const, content: "Write a long report" }],
};

describe("Anthropic non-streaming calls that may outlast 10 minutes", () => {
  it("are refused by a trusted client as by the SDK's own, before any request and with no hold left", async () => {
    const vault = makeTempVault({ budget: 100_000_000 });
    cleanups.push(vault.cleanup);
    const sdk = new Anthropic({ baseURL: server.url, apiKey: "test", maxRetries: 0 });
    const client = await trust(sdk, { vaultBase: vault.base, shape: "native" });
    cleanups.push(() => client.destroy());

    expect(() => sdk.messages.create(longCall), "the SDK's own refusal").toThrow(/Streaming is required/);
    const refused = await (async () => client.messages.create(longCall))().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AnthropicError);
    expect((refused as Error).message).toMatch(/Streaming is required/);
    expect(server.requests).toHaveLength(0);
    const clone = client.withOptions({});
    const cloneRefused = await (async () => clone.messages.create(longCall))().catch(
      (error: unknown) => error,
    );
    expect((cloneRefused as Error).message, "a clone of the trusted client refuses too").toMatch(
      /Streaming is required/,
    );
    expect(server.requests).toHaveLength(0);
    const kinds = readAuditLog(vault.paths.auditLog).map((event) => event.kind);
    expect(kinds, "each hold released, nothing spent").toEqual(["call_failed", "call_failed"]);
  });

  it("keeps a timeout the caller chose (then the SDK sends the call)", async () => {
    const vault = makeTempVault({ budget: 100_000_000 });
    cleanups.push(vault.cleanup);
    const sdk = new Anthropic({ baseURL: server.url, apiKey: "test", maxRetries: 0, timeout: 30_000 });
    const client = await trust(sdk, { vaultBase: vault.base });
    cleanups.push(() => client.destroy());
    const { receipt } = await client.messages.create(longCall);
    expect(receipt.settled).toBe(true);
  });
});
