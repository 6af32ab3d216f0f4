import { afterAll, afterEach, beforeAll } from "vitest";
import { type OpenAIStandIn, startOpenAIStandIn } from "./openai-stand-in.ts";

export interface OpenAIStandInFixture {
  /** The file's stand-in, started in beforeAll. */
  readonly server: OpenAIStandIn;
  /** Run after each test, latest first (a client is destroyed before its vault is removed). */
  readonly cleanups: Array<() => unknown>;
}

/** One OpenAI stand-in for the calling test file, closed after it, and per-test cleanups. */
export function useOpenAIStandIn(): OpenAIStandInFixture {
  let started: OpenAIStandIn | undefined;
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    started = await startOpenAIStandIn();
  });
  afterAll(() => started?.close());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    get server() {
      if (started === undefined) throw new Error("useOpenAIStandIn(): the stand-in starts in beforeAll");
      return started;
    },
    cleanups,
  };
}
