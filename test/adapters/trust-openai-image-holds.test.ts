import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// OpenAI's image token rule differs by model. For gpt-4o-mini an image costs 2,833 base tokens
// plus 5,667 per 512px tile (33x gpt-4o's 85 + 170, so the dollar price matches gpt-4o's):
//   detail "low": 2,833 tokens; detail "high", a 2048×768 image (scaled to 2048×768 → 4×2 tiles):
//   2,833 + 8 × 5,667 = 48,169 tokens.
// The hold sizes every OpenAI image at 85 ("low") or 1,536 tokens ("the most one image can cost",
// src/core/surface/media-tokens.ts), so a gpt-4o-mini image call can cost many times its hold, and
// the settle posts only the hold: the rest goes unrecorded in the budget.
const BUDGET = 10_000_000;

let server: OpenAIStandIn;
const cleanups: Array<() => void> = [];
beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(() => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function governed() {
  const vault = makeTempVault({ budget: BUDGET });
  cleanups.push(vault.cleanup);
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
  return { client: await trust(openai, { vaultBase: vault.base }), vault };
}

function image(detail: "low" | "high") {
  return { type: "image_url" as const, image_url: { url: "https://example.com/wide.png", detail } };
}

describe("OpenAI image holds cover what the image can cost on the model called", () => {
  it("four high-detail images on gpt-4o-mini: the hold covers the call and the whole cost is posted", async () => {
    const { client, vault } = await governed();
    // 4 × 48,169 image tokens + 24 text tokens = 192,700 prompt tokens; 100 output.
    // 192,700 × $0.15 + 100 × $0.60 = 28,905 + 60 = 28,965 µ$ → 290 UT.
    server.setBehaviour({ promptTokens: 192_700, completionTokens: 100 });
    const { receipt } = await client.chat.completions.create({
      model: "gpt-4o-mini",
      max_tokens: 100,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Compare these." },
            image("high"),
            image("high"),
            image("high"),
            image("high"),
          ],
        },
      ],
    });
    expect(receipt.cost).toBe(290);
    const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
    expect(spend?.data.holdUsertokens as number).toBeGreaterThanOrEqual(290);
    expect(receipt.warnings.filter((w) => w.includes("unrecorded"))).toEqual([]);
    expect(receipt.budgetRemaining).toBe(BUDGET - 290);
    await client.destroy();
  });

  it("one low-detail image on gpt-4o-mini (2,833 tokens, not 85): the hold covers the call", async () => {
    const { client, vault } = await governed();
    // 2,833 + 10 text tokens; 100 output: 2,843 × 0.15 + 60 = 486.45 µ$ → 5 UT.
    server.setBehaviour({ promptTokens: 2_843, completionTokens: 100 });
    const { receipt } = await client.chat.completions.create({
      model: "gpt-4o-mini",
      max_tokens: 100,
      messages: [{ role: "user", content: [{ type: "text", text: "What is this?" }, image("low")] }],
    });
    expect(receipt.cost).toBe(5);
    const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
    expect(spend?.data.holdUsertokens as number).toBeGreaterThanOrEqual(5);
    await client.destroy();
  });
});
