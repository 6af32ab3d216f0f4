import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { ConfigError } from "../../src/core/errors.ts";
import { PiiBlockedError } from "../../src/core/guards/guard-errors.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function openai(): OpenAI {
  return new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
}

const withEmail = {
  model: "gpt-4o-mini",
  max_tokens: 20,
  messages: [{ role: "user" as const, content: "Mail jane.doe@example.com the invoice." }],
};

describe("config fields passed to trust()", () => {
  it("win over the vault's config file for this client", async () => {
    const vault = makeTempVault({ budget: 10_000, pii: "warn" });
    cleanups.push(vault.cleanup);
    const strict = await trust(openai(), { vaultBase: vault.base, config: { pii: "block" } });
    const relaxed = await trust(openai(), { vaultBase: vault.base });
    cleanups.push(
      () => strict.destroy(),
      () => relaxed.destroy(),
    );
    const sent = server.requests.length;
    await expect(strict.chat.completions.create(withEmail)).rejects.toBeInstanceOf(PiiBlockedError);
    expect(server.requests.length).toBe(sent);
    const { receipt } = await relaxed.chat.completions.create(withEmail);
    expect(receipt.warnings.join(" ")).toContain("1 email");
  });

  it("are validated like the file: a bad value names the option and the field", async () => {
    const vault = makeTempVault({ budget: 10_000 });
    cleanups.push(vault.cleanup);
    const refused = await trust(openai(), {
      vaultBase: vault.base,
      config: { enforcement: "sometimes" as "warn" },
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused).toMatchObject({ field: "enforcement" });
    expect((refused as Error).message).toContain("the `config` option");
  });

  it('ledger: { kind: "memory" } keeps no money on disk, like dryRun', async () => {
    const vault = makeTempVault({ budget: 10_000 });
    cleanups.push(vault.cleanup);
    const first = await trust(openai(), { vaultBase: vault.base, ledger: { kind: "memory" } });
    const { receipt } = await first.chat.completions.create({
      ...withEmail,
      messages: [{ role: "user", content: "hi" }],
    });
    await first.destroy();
    const second = await trust(openai(), { vaultBase: vault.base, ledger: { kind: "memory" } });
    cleanups.push(() => second.destroy());
    const again = await second.chat.completions.create({
      ...withEmail,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(receipt.cost).toBeGreaterThan(0);
    expect(again.receipt.budgetRemaining).toBe(receipt.budgetRemaining);
  });
});
