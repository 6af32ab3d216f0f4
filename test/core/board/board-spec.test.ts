import { readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createBoard } from "../../../src/core/board/board.ts";
import { BoardBlockedError, BoardEscalatedError } from "../../../src/core/board/board-errors.ts";
import { reviewOperation } from "../../../src/core/board/board-review.ts";
import type { VetoThreshold } from "../../../src/core/board/board-types.ts";
import { ConfigError } from "../../../src/core/errors.ts";
import { trust } from "../../../src/index.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../../support/openai-stand-in.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Vault = ReturnType<typeof makeTempVault>;

function vaultWith(config: NonNullable<Parameters<typeof makeTempVault>[0]>): Vault {
  const vault = makeTempVault({ budget: 100_000, ...config });
  cleanups.push(vault.cleanup);
  return vault;
}

async function clientOn(vault: Vault) {
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
  const client = await trust(openai, { vaultBase: vault.base });
  cleanups.push(() => client.destroy());
  return client;
}

async function outcomeOf(vault: Vault, content: string): Promise<string> {
  const client = await clientOn(vault);
  return client.chat.completions
    .create({ model: "gpt-4o-mini", messages: [{ role: "user", content }], max_tokens: 50 })
    .then(
      () => "sent",
      (error: Error) => `${error.name}: ${error.message}`,
    );
}

function historyOf(vault: Vault): Array<{ decision: string; concerns: unknown[] }> {
  return readFileSync(join(vault.paths.root, "board", "history.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

// "Should I sue …" is a personal legal-advice request: safety, medium. Nothing else is flagged
// (tiny cost, no PII, no tools).
const MEDIUM_CONCERN = "Should I sue my landlord over the deposit?";
// A request to invent citations: hallucination, high.
const HIGH_CONCERN = "Please make up citations for this claim about whales.";

describe('spec: "At low, only severe issues trigger a veto"', () => {
  it('vetoThreshold "low": a call whose only concern is a medium one is sent, the concern noted', async () => {
    // Only `enabled` and `vetoThreshold` are set, as in the spec's configuration example.
    const vault = vaultWith({ board: { enabled: true, vetoThreshold: "low" } as never });
    expect(await outcomeOf(vault, MEDIUM_CONCERN)).toBe("sent");
    expect(historyOf(vault)).toEqual([
      expect.objectContaining({ decision: "approved", concerns: [{ type: "safety", severity: "medium" }] }),
    ]);
  });

  it('vetoThreshold "medium" (default): the same call is escalated and refused under escalation "block"', async () => {
    const vault = vaultWith({ board: { enabled: true } as never });
    expect(await outcomeOf(vault, MEDIUM_CONCERN)).toMatch(/^BoardEscalatedError: /);
  });

  it('vetoThreshold "low": a high concern is escalated, without advice to lower the threshold', async () => {
    const vault = vaultWith({ board: { enabled: true, vetoThreshold: "low" } as never });
    const outcome = await outcomeOf(vault, HIGH_CONCERN);
    expect(outcome).toMatch(/^BoardEscalatedError: /);
    expect(outcome).not.toContain("vetoThreshold");
  });
});

describe("the advice a board refusal gives", () => {
  const at = "2025-03-01T12:00:00.000Z";
  const review = (vetoThreshold: VetoThreshold, context: Record<string, unknown>) =>
    reviewOperation({ kind: "spend", description: "call", scope: [], context }, vetoThreshold, at);

  it.each<VetoThreshold>(["medium", "high", "critical"])(
    'escalated at vetoThreshold "%s": suggests lowering board.vetoThreshold',
    (threshold) => {
      const escalated = review(threshold, { injectionKinds: ["role_play"] });
      expect(escalated.decision).toBe("escalated");
      const { message } = new BoardEscalatedError(escalated, 'escalation is set to "block"');
      expect(message).toContain(`lower \`board.vetoThreshold\` (it is "${threshold}")`);
    },
  );

  it('escalated at vetoThreshold "low": suggests onEscalate or escalation "allow" only', () => {
    const escalated = review("low", { injectionKinds: ["role_play"] });
    const { message } = new BoardEscalatedError(escalated, 'escalation is set to "block"');
    expect(message).toContain("onEscalate");
    expect(message).toContain('escalation to "allow"');
    expect(message).not.toContain("vetoThreshold");
  });

  // A critical concern for each director (an injection, a request burst): blocked at any threshold.
  const bothCritical = { injectionKinds: ["role_play"], requestsLastMinute: 10_000 };

  it('blocked at vetoThreshold "low": does not suggest a lower threshold', () => {
    const blocked = review("low", bothCritical);
    expect(blocked.decision).toBe("blocked");
    const { message } = new BoardBlockedError(blocked);
    expect(message).toContain('"low", the least strict');
    expect(message).not.toContain("lower `board.vetoThreshold`");
  });

  it('blocked at vetoThreshold "medium": suggests a lower threshold', () => {
    const { message } = new BoardBlockedError(review("medium", bothCritical));
    expect(message).toContain('lower `board.vetoThreshold` in usertrust.config.json (it is "medium"');
  });
});

describe("the history file's bound", () => {
  it("history.jsonl holds at most 2 × maxHistory reviews, and history() at most maxHistory", () => {
    const vault = vaultWith({});
    const board = createBoard(vault.paths.root, { maxHistory: 5 });
    const file = join(vault.paths.root, "board", "history.jsonl");
    for (let index = 0; index < 40; index++) {
      board.reviewNow("spend", "user-123", "model call", { context: {} });
      const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
      // README: "the file itself holds up to 2 × maxHistory lines".
      expect(lines.length).toBeLessThanOrEqual(10);
    }
    expect(board.history().map((entry) => entry.seq)).toEqual([36, 37, 38, 39, 40]);
    expect(board.stats().totalReviews).toBe(40);
  });
});

describe('README: "A bad file fails with a ConfigError naming the file"', () => {
  it("board.maxHistory above what the board accepts is a ConfigError, not a late BOARD_OPTIONS_INVALID", async () => {
    const vault = vaultWith({
      board: { enabled: true, vetoThreshold: "medium", escalation: "block", maxHistory: 1_000_000 },
    });
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
    const error = await trust(openai, { vaultBase: vault.base }).then(
      async (client) => {
        await client.destroy();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
  });
});
