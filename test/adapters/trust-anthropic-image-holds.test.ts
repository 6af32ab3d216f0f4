import Anthropic from "@anthropic-ai/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// Claude Opus 4.7 and later read images up to 2,576 px on the long edge (~3.75 MP) instead of
// 1,568 px (~1.15 MP); an image costs ⌈w/28⌉ × ⌈h/28⌉ visual tokens (≈ w × h / 750). A 2576×1456
// screenshot is 92 × 52 = 4,784 tokens. The hold sizes every Anthropic image at 1,600 tokens
// (ANTHROPIC_IMAGE_TOKENS, "images are resized to at most ~1.15 megapixels").
//
// Four such images + ~20 text tokens on claude-opus-4-7 ($5 in / $25 out), 100 output tokens:
//   19,156 × 5 + 100 × 25 = 95,780 + 2,500 = 98,280 µ$ → 983 UT. Hold: ≈ 6,410 × 5 + 2,500 ≈ 346 UT.
const BUDGET = 10_000_000;

let server: AnthropicStandIn;
const cleanups: Array<() => void> = [];
beforeAll(async () => {
  server = await startAnthropicStandIn();
});
afterAll(() => server.close());
afterEach(() => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const image = {
  type: "image" as const,
  source: { type: "url" as const, url: "https://example.com/screen.png" },
};

describe("Anthropic image holds cover high-resolution images on Opus 4.7+", () => {
  it("four 2576×1456 screenshots on claude-opus-4-7: the hold covers the call", async () => {
    const vault = makeTempVault({ budget: BUDGET });
    cleanups.push(vault.cleanup);
    const client = await trust(new Anthropic({ baseURL: server.url, apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    server.setBehaviour({ inputTokens: 19_156, outputTokens: 100 });
    const { receipt } = await client.messages.create({
      model: "claude-opus-4-7",
      max_tokens: 100,
      messages: [
        {
          role: "user",
          content: [{ type: "text", text: "What changed between these?" }, image, image, image, image],
        },
      ],
    });
    expect(receipt.cost).toBe(983);
    const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
    expect(spend?.data.holdUsertokens as number).toBeGreaterThanOrEqual(983);
    expect(receipt.budgetRemaining).toBe(BUDGET - 983);
    await client.destroy();
  });
});
