import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { CircuitOpenError } from "../../src/core/errors.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README "Circuit breaker": "`failureThreshold` provider failures in a row (5xx, 429, timeouts,
 * refused connections — not your own 4xx or aborts) open the circuit". A stream the provider
 * breaks off (Anthropic's mid-stream `overloaded_error` event, a connection reset mid-stream) is a
 * provider failure: it must count, not reset the count as a success would.
 */

let anthropic: AnthropicStandIn;
let openai: OpenAIStandIn;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  anthropic = await startAnthropicStandIn();
  openai = await startOpenAIStandIn();
});
afterAll(async () => {
  await anthropic.close();
  await openai.close();
});
afterEach(async () => {
  anthropic.setBehaviour({});
  openai.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function drain(stream: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const _ of stream) {
    }
    return undefined;
  } catch (error) {
    return error;
  }
}

describe("circuit breaker: streams the provider breaks off count as provider failures", () => {
  it("Anthropic: two streams ended by an overloaded_error event open a threshold-2 circuit", async () => {
    const vault = makeTempVault({
      budget: 100_000,
      circuitBreaker: { failureThreshold: 2, resetTimeout: 60_000 },
    });
    cleanups.push(vault.cleanup);
    const client = await trust(new Anthropic({ baseURL: anthropic.url, apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    cleanups.push(() => client.destroy());
    anthropic.setBehaviour({ reply: "one two three four", errorEventAfter: 1 });
    for (let i = 0; i < 2; i++) {
      const stream = await client.messages.create({
        model: "claude-sonnet-4-6",
        max_tokens: 50,
        messages: [{ role: "user", content: "hi" }],
        stream: true,
      });
      expect(await drain(stream)).toBeInstanceOf(Error);
    }
    const third = await client.messages
      .create({ model: "claude-sonnet-4-6", max_tokens: 50, messages: [{ role: "user", content: "hi" }] })
      .catch((error: unknown) => error);
    expect(third).toBeInstanceOf(CircuitOpenError);
  });

  it("OpenAI: two chat streams whose connection dies mid-stream open a threshold-2 circuit", async () => {
    const vault = makeTempVault({
      budget: 100_000,
      circuitBreaker: { failureThreshold: 2, resetTimeout: 60_000 },
    });
    cleanups.push(vault.cleanup);
    const client = await trust(new OpenAI({ baseURL: `${openai.url}/v1`, apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    cleanups.push(() => client.destroy());
    openai.setBehaviour({ reply: "one two three four", failAfterChunks: 1 });
    for (let i = 0; i < 2; i++) {
      const stream = await client.chat.completions.create({
        model: "gpt-4o-mini",
        max_tokens: 50,
        messages: [{ role: "user", content: "hi" }],
        stream: true,
      });
      expect(await drain(stream)).toBeInstanceOf(Error);
    }
    const third = await client.chat.completions
      .create({ model: "gpt-4o-mini", max_tokens: 50, messages: [{ role: "user", content: "hi" }] })
      .catch((error: unknown) => error);
    expect(third).toBeInstanceOf(CircuitOpenError);
  });
});
