import { writeFileSync } from "node:fs";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { trust } from "../../src/index.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

// interceptor-sdk-reference.txt, "Enforcement Modes": warn lets a violation through and prints it
// (console.warn in TypeScript); log only records it.

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const DENY_GPT_4O = `- name: no-gpt-4o
  effect: deny
  enforcement: hard
  severity: high
  conditions:
    - field: model
      operator: eq
      value: gpt-4o
`;

async function clientOn(config: Parameters<typeof makeTempVault>[0], policy?: string) {
  const vault = makeTempVault({ budget: 100_000, ...config });
  cleanups.push(vault.cleanup);
  if (policy !== undefined) writeFileSync(vault.paths.defaultPolicy, policy);
  const client = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 }), {
    vaultBase: vault.base,
  });
  cleanups.push(() => client.destroy());
  return { vault, client };
}

describe("enforcement modes on the console", () => {
  for (const [mode, prints] of [
    ["warn", true],
    ["log", false],
  ] as const) {
    it(`"${mode}" lets a denied call through${prints ? " and prints what it let through" : " and prints nothing"}`, async () => {
      const { client } = await clientOn({ enforcement: mode }, DENY_GPT_4O);
      const consoleWarn = vi.spyOn(console, "warn").mockImplementation(() => {});
      const { receipt } = await client.chat.completions.create({
        model: "gpt-4o",
        messages: [{ role: "user", content: "Say hello" }],
        max_tokens: 20,
      });
      expect(receipt.settled).toBe(true);
      const printed = consoleWarn.mock.calls.map((call) => String(call[0]));
      if (prints) expect(printed).toEqual([expect.stringMatching(/^usertrust: not enforced .*no-gpt-4o/)]);
      else expect(printed).toEqual([]);
    });
  }
});
