import { writeFileSync } from "node:fs";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, tool } from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { BoardReviewResult } from "../../src/core/board/board-types.ts";
import { sharedEngine } from "../../src/core/surface/shared-engine.ts";
import { governModel, usertrustToolApproval } from "../../src/middleware/ai-sdk/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

let server: OpenAIStandIn;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
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

describe("framework surfaces on one vault with different settings", () => {
  it("a second surface with config { enforcement: 'warn' } gets its setting, though another surface opened the vault first", async () => {
    const vault = makeTempVault({ budget: 100_000 });
    writeFileSync(vault.paths.defaultPolicy, DENY_GPT_4O);
    cleanups.push(vault.cleanup);
    cleanups.push(async () => (await sharedEngine({ vaultBase: vault.base })).close());
    const warnOnly = { vaultBase: vault.base, config: { enforcement: "warn" as const } };
    cleanups.push(async () => (await sharedEngine(warnOnly)).close());
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });

    const strict = governModel(openai.chat("gpt-4o"), { vaultBase: vault.base });
    await expect(generateText({ model: strict, prompt: "Say hello", maxOutputTokens: 20 })).rejects.toThrow(
      /no-gpt-4o/,
    );
    const rollout = governModel(openai.chat("gpt-4o"), warnOnly);
    const result = await generateText({ model: rollout, prompt: "Say hello", maxOutputTokens: 20 });
    const receipt = result.providerMetadata?.usertrust as { warnings: string[] } | undefined;
    expect(receipt?.warnings.some((warning) => warning.includes("no-gpt-4o"))).toBe(true);
  });

  it("surfaces with equal settings share one engine; actor and onEscalate do not open another", async () => {
    const vault = makeTempVault({ budget: 100_000 });
    cleanups.push(vault.cleanup);
    const first = await sharedEngine({ vaultBase: vault.base, config: { pii: "warn", enforcement: "warn" } });
    cleanups.push(() => first.close());
    const same = await sharedEngine({
      vaultBase: vault.base,
      config: { enforcement: "warn", pii: "warn" },
      actor: "agent-7",
      onEscalate: () => "allow",
    });
    const other = await sharedEngine({ vaultBase: vault.base, config: { pii: "block" } });
    cleanups.push(() => other.close());
    expect(same).toBe(first);
    expect(other).not.toBe(first);
  });

  it("usertrustToolApproval({ onEscalate }) decides the tool calls the board escalates, next to governModel on the same vault", async () => {
    const board = {
      enabled: true,
      vetoThreshold: "medium" as const,
      escalation: "block" as const,
      maxHistory: 100,
    };
    const vault = makeTempVault({ budget: 100_000, board });
    cleanups.push(vault.cleanup);
    cleanups.push(async () => (await sharedEngine({ vaultBase: vault.base })).close());
    // The tool arguments ask for personal legal advice: a medium safety concern, so the board escalates.
    server.setBehaviour({
      toolCall: { name: "ask_lawyer", arguments: '{"question":"Should I sue my landlord?"}' },
    });
    const asked: BoardReviewResult[] = [];
    let executed = 0;
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: "test" });

    await generateText({
      model: governModel(openai.chat("gpt-4o-mini"), { vaultBase: vault.base }),
      prompt: "Help me with my tenancy",
      maxOutputTokens: 1_000,
      stopWhen: stepCountIs(1), // one model step: the tool call is reviewed and run, no second model call
      tools: {
        ask_lawyer: tool({
          inputSchema: z.object({ question: z.string() }),
          execute: async () => {
            executed += 1;
            return "answered";
          },
        }),
      },
      toolApproval: usertrustToolApproval({
        vaultBase: vault.base,
        onEscalate: (review) => {
          asked.push(review);
          return "allow";
        },
      }),
    });

    const toolCall = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "tool_call");
    expect(toolCall?.data.board).toMatchObject({ decision: "escalated" });
    expect(asked, "the onEscalate given to usertrustToolApproval was never asked").toHaveLength(1);
    expect(executed).toBe(1);
  });
});
