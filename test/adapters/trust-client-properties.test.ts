import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * README: "native shape: every method returns exactly what the SDK returns — the same classes …
 * so existing code compiles unchanged"; "Everything not in the table below passes through
 * untouched". The client's own `constructor` is a property like any other.
 */
describe("properties of the trusted client", () => {
  for (const [name, make, Class] of [
    ["OpenAI", () => new OpenAI({ apiKey: "k", baseURL: "http://127.0.0.1:9/v1" }), OpenAI],
    ["Anthropic", () => new Anthropic({ apiKey: "k", baseURL: "http://127.0.0.1:9" }), Anthropic],
  ] as const) {
    it(`${name}: client.constructor is still the SDK class`, async () => {
      const vault = makeTempVault({ budget: 100_000 });
      const client = await trust(make() as object, { vaultBase: vault.base, shape: "native" });
      try {
        expect(client).toBeInstanceOf(Class);
        expect((client as { constructor: unknown }).constructor).toBe(Class);
      } finally {
        await (client as { destroy(): Promise<void> }).destroy();
        vault.cleanup();
      }
    });
  }
});
