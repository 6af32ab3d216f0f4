import Anthropic from "@anthropic-ai/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README, How holds work: "A prompt marked for Anthropic's cache (`cache_control` anywhere in the
 * request) is held at the cache-write rate — 1.25× input for 5-minute writes, 2× for `ttl: "1h"`".
 * The `pricing` row documents `cacheWritePerMTok` / `cacheWrite1hPerMTok` as optional. With a
 * pricing entry that names no cache rates, the 1-hour hold is 2× input (as documented) but the
 * 5-minute hold is 1× input — a cache-marked prompt is held exactly as if it were not marked.
 */

let server: AnthropicStandIn;
const cleanups: Array<() => void> = [];
beforeAll(async () => {
  server = await startAnthropicStandIn();
});
afterAll(() => server.close());
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const PROMPT = "x".repeat(300_000); // ≈ 100,000 input tokens at bytes / 3

async function holdOf(cacheControl: { type: "ephemeral"; ttl?: "5m" | "1h" } | undefined): Promise<number> {
  const vault = makeTempVault({
    budget: 1_000_000,
    pricing: { "my-claude": { inputPerMTok: 10, outputPerMTok: 10 } },
  } as never);
  cleanups.push(vault.cleanup);
  // A budget of 1 UT: the call is refused and the refusal names the hold it needed.
  const client = await trust(new Anthropic({ baseURL: server.url, apiKey: "test", maxRetries: 0 }), {
    vaultBase: vault.base,
    budget: 1,
  });
  const error = await client.messages
    .create({
      model: "my-claude",
      max_tokens: 1,
      messages: [
        {
          role: "user",
          content: [
            {
              type: "text",
              text: PROMPT,
              ...(cacheControl === undefined ? {} : { cache_control: cacheControl }),
            },
          ],
        },
      ],
    })
    .catch((caught: unknown) => caught);
  await client.destroy();
  return (error as { neededUsertokens: number }).neededUsertokens;
}

describe("README: cache-marked prompts are held at the cache-write rate", () => {
  it("a 5-minute cache_control prompt of a model priced without cache rates is held at 1.25× input", async () => {
    const plain = await holdOf(undefined);
    const oneHour = await holdOf({ type: "ephemeral", ttl: "1h" });
    const fiveMinutes = await holdOf({ type: "ephemeral" });
    // 1-hour writes: 2× input (documented fallback) — holds.
    expect(oneHour).toBeGreaterThan(1.9 * plain);
    // 5-minute writes: 1.25× input.
    expect(fiveMinutes).toBeGreaterThan(1.2 * plain);
  });
});
