import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createAgent, MiddlewareError, tool } from "langchain";
import OpenAI from "openai";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { createEngine } from "../../src/core/create-engine.ts";
import type { Engine } from "../../src/core/engine.ts";
import { PolicyDeniedError } from "../../src/core/errors.ts";
import { trust } from "../../src/index.ts";
import {
  governedChatModel,
  UsertrustCallbackHandler,
  usertrustAgentMiddleware,
} from "../../src/middleware/langchain/index.ts";
import { langChainOnOpenAI, type Vault } from "../support/langchain-fixture.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * A model call's tools reach the engine as `toolNames` on every LangChain surface, named as trust()
 * names them: the board's scope_creep detector flags a read-only call offering a writing tool, and
 * the policy fields `tools` / `tool_count` can refuse it. Each surface gets its tools another way:
 * governedChatModel from bindTools or the call options, the agent middleware from the model
 * request, the callback handler from the run's invocation params.
 */

const { server, chatOpenAI } = langChainOnOpenAI();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const closeAfter = <T extends { cleanup: () => void } | Engine>(item: T): T => {
  cleanups.push("cleanup" in item ? item.cleanup : () => item.close());
  return item;
};

// escalation "allow": the call goes through and the board's review is simply recorded.
const BOARD = {
  enabled: true,
  vetoThreshold: "medium" as const,
  escalation: "allow" as const,
  maxHistory: 100,
};

const DENY_DELETING_TOOLSETS = `- name: no-delete-in-toolsets
  effect: deny
  enforcement: hard
  severity: critical
  conditions:
    - { field: tools, operator: contains, value: delete_file }
    - { field: tool_count, operator: eq, value: 2 }
`;

async function boardEngine(): Promise<{ vault: Vault; engine: Engine }> {
  const vault = closeAfter(makeTempVault({ budget: 100_000, board: BOARD }));
  const engine = closeAfter(await createEngine({ vaultBase: vault.base }));
  return { vault, engine };
}

async function policyEngine(): Promise<Engine> {
  const vault = closeAfter(makeTempVault({ budget: 100_000 }));
  writeFileSync(vault.paths.defaultPolicy, DENY_DELETING_TOOLSETS);
  return closeAfter(await createEngine({ vaultBase: vault.base }));
}

/** The concern types of every board review in the vault, oldest first. */
function boardConcerns(vault: Vault): string[][] {
  const lines = readFileSync(join(vault.paths.root, "board", "history.jsonl"), "utf8").split("\n");
  return lines
    .filter(Boolean)
    .map((line) =>
      (JSON.parse(line) as { concerns: Array<{ type: string }> }).concerns.map((concern) => concern.type),
    );
}

function tools() {
  const deleteFile = tool(async () => "deleted", {
    name: "delete_file",
    description: "Deletes a file",
    schema: z.object({ path: z.string() }),
  });
  const listFiles = tool(async () => "a.txt", {
    name: "list_files",
    description: "Lists files",
    schema: z.object({ folder: z.string() }),
  });
  return { deleteFile, listFiles };
}

describe("LangChain surfaces pass a model call's tool names to the board", () => {
  it("trust() (the reference): a read-only call offering delete_file is a scope_creep concern", async () => {
    const vault = closeAfter(makeTempVault({ budget: 100_000, board: BOARD }));
    const openai = new OpenAI({ baseURL: `${server().url}/v1`, apiKey: "test", maxRetries: 0 });
    const client = await trust(openai, { vaultBase: vault.base, scope: "read-only" });
    cleanups.push(() => client.destroy());
    await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Tidy up the folder" }],
      max_tokens: 100,
      tools: [
        {
          type: "function",
          function: { name: "delete_file", parameters: { type: "object", properties: {} } },
        },
      ],
    });
    expect(boardConcerns(vault)).toEqual([expect.arrayContaining(["scope_creep"])]);
  });

  it("governedChatModel(...).bindTools(): a read-only call offering delete_file is a scope_creep concern", async () => {
    const { vault, engine } = await boardEngine();
    const model = governedChatModel(chatOpenAI(), { engine, scope: "read-only" });
    await model.bindTools([tools().deleteFile]).invoke("Tidy up the folder");
    expect(boardConcerns(vault)).toEqual([expect.arrayContaining(["scope_creep"])]);
  });

  it("governedChatModel: tools given in the call options are reviewed too", async () => {
    const { vault, engine } = await boardEngine();
    const model = governedChatModel(chatOpenAI(), { engine, scope: "read-only" });
    await model.invoke("Tidy up the folder", { tools: [tools().deleteFile] } as never);
    expect(boardConcerns(vault)).toEqual([expect.arrayContaining(["scope_creep"])]);
  });

  it("usertrustAgentMiddleware: the agent's tools on the model request are reviewed", async () => {
    const { vault, engine } = await boardEngine();
    const agent = createAgent({
      model: chatOpenAI(),
      tools: [tools().deleteFile],
      middleware: [usertrustAgentMiddleware({ engine, scope: "read-only" })],
    });
    await agent.invoke({ messages: [{ role: "user", content: "Tidy up the folder" }] });
    expect(boardConcerns(vault)).toEqual([expect.arrayContaining(["scope_creep"])]);
  });

  it("UsertrustCallbackHandler: the tools in the run's invocation params are reviewed", async () => {
    const { vault, engine } = await boardEngine();
    const handler = new UsertrustCallbackHandler({ engine, scope: "read-only" });
    await chatOpenAI()
      .bindTools([tools().deleteFile])
      .invoke("Tidy up the folder", { callbacks: [handler] });
    expect(boardConcerns(vault)).toEqual([expect.arrayContaining(["scope_creep"])]);
  });

  it("a call without tools raises no scope_creep concern under the same scope", async () => {
    const { vault, engine } = await boardEngine();
    await governedChatModel(chatOpenAI(), { engine, scope: "read-only" }).invoke("Tidy up the folder");
    expect(boardConcerns(vault)).toEqual([expect.not.arrayContaining(["scope_creep"])]);
  });
});

describe("LangChain surfaces fill the policy fields tools and tool_count", () => {
  it("governedChatModel(...).bindTools(): a rule on tools and tool_count refuses the call before any request", async () => {
    const engine = await policyEngine();
    const { deleteFile, listFiles } = tools();
    const model = governedChatModel(chatOpenAI(), engine);
    const before = server().requests.length;
    const error = await model
      .bindTools([listFiles, deleteFile])
      .invoke("Tidy up the folder")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect(server().requests.length).toBe(before);
    // One tool: tool_count is 1, so the rule does not match.
    const message = await model.bindTools([deleteFile]).invoke("Tidy up the folder");
    expect(message.response_metadata.usertrust).toMatchObject({ settled: true });
  });

  it("usertrustAgentMiddleware: the same rule refuses the agent's model call", async () => {
    const engine = await policyEngine();
    const { deleteFile, listFiles } = tools();
    const agent = createAgent({
      model: chatOpenAI(),
      tools: [listFiles, deleteFile],
      middleware: [usertrustAgentMiddleware(engine)],
    });
    const before = server().requests.length;
    const error = await agent
      .invoke({ messages: [{ role: "user", content: "Tidy up the folder" }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MiddlewareError);
    expect((error as Error).cause).toBeInstanceOf(PolicyDeniedError);
    expect(server().requests.length).toBe(before);
  });

  it("UsertrustCallbackHandler (blocking): the same rule refuses the call", async () => {
    // LangChain logs a handler's throw; keep the test output clean.
    vi.spyOn(console, "error").mockImplementation(() => {});
    const engine = await policyEngine();
    const { deleteFile, listFiles } = tools();
    const handler = new UsertrustCallbackHandler({ engine, blocking: true });
    const before = server().requests.length;
    const error = await chatOpenAI()
      .bindTools([listFiles, deleteFile])
      .invoke("Tidy up the folder", { callbacks: [handler] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect(server().requests.length).toBe(before);
  });
});
