import { readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { promptWindow } from "../../../src/core/board/board-context.ts";
import { SCANNED_CHARS_MAX } from "../../../src/core/board/review-subject.ts";
import { trust } from "../../../src/index.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../../support/openai-stand-in.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

/*
 * The board reviews "every call" (README). Agents and chats re-send their whole conversation, so the
 * part of the prompt that is new on each call — the latest user turn — is at the END of the
 * messages. A call whose earlier messages pass 16 KB must still have its latest turn reviewed.
 */

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const board = {
  enabled: true,
  vetoThreshold: "medium" as const,
  escalation: "allow" as const,
  maxHistory: 100,
};

async function reviewedConcerns(
  messages: Array<{ role: "system" | "user"; content: string }>,
): Promise<string[]> {
  const vault = makeTempVault({ budget: 1_000_000, board });
  cleanups.push(vault.cleanup);
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
  const client = await trust(openai, { vaultBase: vault.base });
  cleanups.push(() => client.destroy());
  await client.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: 100 });
  const [entry] = readFileSync(join(vault.paths.root, "board", "history.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { concerns: Array<{ type: string }> });
  return (entry?.concerns ?? []).map((concern) => concern.type);
}

const ASK_TO_FABRICATE = "Please make up citations for this claim about whales.";
// ~17 KB of ordinary system instructions (no concern in them).
const LONG_SYSTEM_PROMPT = "You are a friendly assistant for a bakery. Answer politely and briefly. ".repeat(
  240,
);

describe("the board reads the latest turn of a long conversation", () => {
  it("flags a request to invent citations in a short conversation (reference)", async () => {
    expect(await reviewedConcerns([{ role: "user", content: ASK_TO_FABRICATE }])).toContain("hallucination");
  });

  it("flags the same request when it follows a long system prompt", async () => {
    expect(LONG_SYSTEM_PROMPT.length).toBeGreaterThan(16 * 1024);
    const concerns = await reviewedConcerns([
      { role: "system", content: LONG_SYSTEM_PROMPT },
      { role: "user", content: ASK_TO_FABRICATE },
    ]);
    expect(concerns).toContain("hallucination");
  });
});

describe("promptWindow", () => {
  it("keeps a prompt that fits whole, its parts on lines of their own", () => {
    expect(promptWindow(["system", "hello"], 100)).toBe("system\nhello");
  });

  it("keeps the first and the last half of a longer prompt, and nothing in between", () => {
    const parts = ["S".repeat(30), "M".repeat(60), "newest turn"];
    const window = promptWindow(parts, 40);
    expect(window.length).toBeLessThanOrEqual(40);
    expect(window.startsWith("S".repeat(20))).toBe(true);
    expect(window.endsWith("newest turn")).toBe(true);
    expect(window).toContain("M");
    expect(window).not.toContain("S".repeat(21));
  });

  it("reads the newest parts first when the last one alone is longer than half the window", () => {
    const window = promptWindow(["system prompt", "x".repeat(1_000), `${"y".repeat(1_000)} latest ask`], 64);
    expect(window.length).toBeLessThanOrEqual(64);
    expect(window.startsWith("system prompt\n")).toBe(true);
    expect(window.endsWith("y latest ask")).toBe(true);
  });

  it("builds no more than the window from many parts", () => {
    const parts = Array.from({ length: 10_000 }, (_, index) => `message ${index}`);
    const window = promptWindow(parts, SCANNED_CHARS_MAX);
    expect(window.length).toBeLessThanOrEqual(SCANNED_CHARS_MAX);
    expect(window.startsWith("message 0\nmessage 1\n")).toBe(true);
    expect(window.endsWith("message 9998\nmessage 9999")).toBe(true);
  });
});
