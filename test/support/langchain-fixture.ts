import { writeFileSync } from "node:fs";
import { ChatOpenAI } from "@langchain/openai";
import { afterAll, afterEach, beforeAll, vi } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "./openai-stand-in.ts";
import { makeTempVault } from "./temp-vault.ts";

export type Vault = ReturnType<typeof makeTempVault>;

/**
 * The set-up LangChain tests share: an OpenAI stand-in for the file, engines on fresh vaults
 * (closed and removed after each test) and a ChatOpenAI pointed at the stand-in. Call it at the top
 * level of a test file; it registers its own hooks.
 */
export function langChainOnOpenAI() {
  let server: OpenAIStandIn | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    server = await startOpenAIStandIn();
  });
  afterAll(() => server?.close());
  afterEach(async () => {
    server?.setBehaviour({});
    vi.restoreAllMocks();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const stand = (): OpenAIStandIn => {
    if (server === undefined) throw new Error("the stand-in starts in beforeAll");
    return server;
  };
  return {
    server: stand,
    /** An engine on a fresh vault with `budget`, and `policy` as its default policy file when given. */
    async engineOn(budget = 100_000, policy?: string): Promise<{ vault: Vault; engine: Engine }> {
      const vault = makeTempVault({ budget });
      cleanups.push(vault.cleanup);
      if (policy !== undefined) writeFileSync(vault.paths.defaultPolicy, policy);
      const engine = await createEngine({ vaultBase: vault.base });
      cleanups.push(() => engine.close());
      return { vault, engine };
    },
    /** gpt-4o-mini on the stand-in; 1M output tokens (~6,000 UT held) cover each call's cost. */
    chatOpenAI(): ChatOpenAI {
      return new ChatOpenAI({
        model: "gpt-4o-mini",
        apiKey: "test",
        configuration: { baseURL: `${stand().url}/v1` },
        maxRetries: 0,
        maxTokens: 1_000_000,
      });
    },
  };
}
