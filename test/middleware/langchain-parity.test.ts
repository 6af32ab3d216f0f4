import type { AIMessage, AIMessageChunk } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { createAgent } from "langchain";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { verifyChain } from "../../src/core/audit/verify-chain.ts";
import { createEngine } from "../../src/core/create-engine.ts";
import { SqliteLedger } from "../../src/core/ledger/sqlite-ledger.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";
import {
  governedChatModel,
  UsertrustCallbackHandler,
  usertrustAgentMiddleware,
} from "../../src/middleware/langchain/index.ts";
import { readAuditLog } from "../support/audit-log.ts";
import { type OpenAIStandIn, type StandInBehaviour, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * Parity of the LangChain surfaces with trust(): the same call against the same stand-in answer,
 * through trust(new OpenAI()) and through each of governedChatModel, usertrustAgentMiddleware and
 * UsertrustCallbackHandler, must leave the same audit event kinds, the same cost and ledger
 * movement, the same hold, and a receipt with the same fields.
 */

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

const BUDGET = 100_000;
const MAX_TOKENS = 1_000_000;
const PROMPT = "Say hello";

/** What a user can observe of one governed call. */
interface Outcome {
  /** The error's class name, or "ok". */
  result: string;
  kinds: string[];
  cost: number | undefined;
  receiptFields: string[] | undefined;
  usage: TrustReceipt["usage"] | undefined;
  usageSource: string | undefined;
  posted: number;
  pending: number;
  holdUsertokens: unknown;
  spendFields: string[] | undefined;
}

type Surface = (vaultBase: string) => Promise<TrustReceipt | undefined>;

function chatOpenAI(): ChatOpenAI {
  return new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "test",
    configuration: { baseURL: `${server.url}/v1` },
    maxRetries: 0,
    maxTokens: MAX_TOKENS,
  });
}

const receiptOf = (message: AIMessage | AIMessageChunk) =>
  message.response_metadata?.usertrust as TrustReceipt | undefined;

const surfaces: Record<string, Surface> = {
  "trust(openai)": async (vaultBase) => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
    const client = await trust(openai, { vaultBase });
    try {
      const { receipt } = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: PROMPT }],
        max_tokens: MAX_TOKENS,
      });
      return receipt;
    } finally {
      await client.destroy();
    }
  },
  governedChatModel: async (vaultBase) => {
    const engine = await createEngine({ vaultBase });
    try {
      return receiptOf(await governedChatModel(chatOpenAI(), engine).invoke(PROMPT));
    } finally {
      await engine.close();
    }
  },
  usertrustAgentMiddleware: async (vaultBase) => {
    const engine = await createEngine({ vaultBase });
    try {
      const agent = createAgent({ model: chatOpenAI(), middleware: [usertrustAgentMiddleware(engine)] });
      const { messages } = await agent.invoke({ messages: [{ role: "user", content: PROMPT }] });
      return receiptOf(messages.at(-1) as AIMessage);
    } finally {
      await engine.close();
    }
  },
  UsertrustCallbackHandler: async (vaultBase) => {
    const engine = await createEngine({ vaultBase });
    try {
      const handler = new UsertrustCallbackHandler({ engine, blocking: true });
      return receiptOf(await chatOpenAI().invoke(PROMPT, { callbacks: [handler] }));
    } finally {
      await engine.close();
    }
  },
};

/** The same call streamed; the agent middleware is left out (createAgent calls the model with invoke). */
const streamingSurfaces: Record<string, Surface> = {
  "trust(openai)": async (vaultBase) => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 });
    const client = await trust(openai, { vaultBase });
    try {
      const stream = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: PROMPT }],
        max_tokens: MAX_TOKENS,
        stream: true,
      });
      for await (const _ of stream) {
        // drain
      }
      return await stream.receipt;
    } finally {
      await client.destroy();
    }
  },
  governedChatModel: async (vaultBase) => {
    const engine = await createEngine({ vaultBase });
    try {
      let aggregate: AIMessageChunk | undefined;
      for await (const chunk of await governedChatModel(chatOpenAI(), engine).stream(PROMPT)) {
        aggregate = aggregate === undefined ? chunk : aggregate.concat(chunk);
      }
      return aggregate === undefined ? undefined : receiptOf(aggregate);
    } finally {
      await engine.close();
    }
  },
  UsertrustCallbackHandler: async (vaultBase) => {
    const engine = await createEngine({ vaultBase });
    try {
      const receipts: TrustReceipt[] = [];
      const handler = new UsertrustCallbackHandler({
        engine,
        blocking: true,
        onReceipt: (r) => receipts.push(r),
      });
      for await (const _ of await chatOpenAI().stream(PROMPT, { callbacks: [handler] })) {
        // drain
      }
      return receipts[0] === undefined
        ? undefined
        : (JSON.parse(JSON.stringify(receipts[0])) as TrustReceipt);
    } finally {
      await engine.close();
    }
  },
};

async function observe(surface: Surface, behaviour: StandInBehaviour, budget = BUDGET): Promise<Outcome> {
  const vault = makeTempVault({ budget });
  cleanups.push(vault.cleanup);
  server.setBehaviour(behaviour);
  let receipt: TrustReceipt | undefined;
  let result = "ok";
  try {
    receipt = await surface(vault.base);
  } catch (error) {
    result =
      (error as Error).cause instanceof Error
        ? ((error as Error).cause as Error).name
        : (error as Error).name;
  }
  const events = readAuditLog(vault.paths.auditLog);
  expect(verifyChain(vault.paths.auditLog).ok).toBe(true);
  const ledger = new SqliteLedger({ path: vault.paths.ledger, budgetUsertokens: budget });
  const balance = await ledger.balance();
  await ledger.close();
  const spend = events.find((event) => event.kind === "spend");
  return {
    result,
    kinds: events.map((event) => event.kind),
    cost: receipt?.cost,
    receiptFields: receipt === undefined ? undefined : Object.keys(receipt).sort(),
    usage: receipt?.usage,
    usageSource: receipt?.usageSource,
    posted: balance.postedUsertokens,
    pending: balance.pendingUsertokens,
    holdUsertokens: spend?.data.holdUsertokens,
    spendFields: spend === undefined ? undefined : Object.keys(spend.data).sort(),
  };
}

async function observeAll(
  behaviour: StandInBehaviour,
  budget = BUDGET,
  from: Record<string, Surface> = surfaces,
): Promise<Record<string, Outcome>> {
  const outcomes: Record<string, Outcome> = {};
  for (const [name, surface] of Object.entries(from))
    outcomes[name] = await observe(surface, behaviour, budget);
  return outcomes;
}

/** Every surface's outcome equals trust()'s. */
function expectParity(outcomes: Record<string, Outcome>): Outcome {
  const reference = outcomes["trust(openai)"] as Outcome;
  for (const [name, outcome] of Object.entries(outcomes))
    expect({ name, ...outcome }).toEqual({ name, ...reference });
  return reference;
}

describe("LangChain surfaces match trust()", () => {
  it("a settled call: same cost, ledger movement, hold, audit kinds and receipt fields", async () => {
    const reference = expectParity(
      await observeAll({
        promptTokens: 1_000_000,
        cachedTokens: 400_000,
        completionTokens: 500_000,
        reasoningTokens: 200_000,
      }),
    );
    // gpt-4o-mini: 600k input × $0.15/M + 400k cached × $0.075/M + 500k output × $0.60/M = $0.42 = 4,200 UT.
    expect(reference).toMatchObject({
      result: "ok",
      kinds: ["spend"],
      cost: 4_200,
      posted: 4_200,
      pending: 0,
    });
  });

  it("a budget denial: same error, nothing held or posted, same audit kinds", async () => {
    const reference = expectParity(await observeAll({}, 1));
    expect(reference).toMatchObject({ result: "BudgetExceededError", kinds: ["budget_exceeded"], posted: 0 });
  });

  it("a provider failure: the hold is voided the same way", async () => {
    const reference = expectParity(await observeAll({ failStatus: { status: 400, times: 1 } }));
    expect(reference).toMatchObject({ kinds: ["call_failed"], posted: 0, pending: 0 });
  });

  it("a provider answer without usage: the same estimate", async () => {
    // The same request goes over the wire from every surface ({"messages":[{"role":"user",…}]}),
    // so the prompt estimate the receipt falls back to must be the same too.
    const reference = expectParity(await observeAll({ omitUsage: true }));
    expect(reference).toMatchObject({ result: "ok", kinds: ["spend"], usageSource: "estimated" });
  });

  it("a streamed call: same cost, ledger movement, hold, audit kinds and receipt fields", async () => {
    const usage = {
      promptTokens: 1_000_000,
      cachedTokens: 400_000,
      completionTokens: 500_000,
      reasoningTokens: 200_000,
    };
    const reference = expectParity(await observeAll(usage, BUDGET, streamingSurfaces));
    // Same usage as the settled call above: 4,200 UT.
    expect(reference).toMatchObject({
      result: "ok",
      kinds: ["spend"],
      cost: 4_200,
      posted: 4_200,
      pending: 0,
    });
  });

  it("a streamed call refused by the budget: same error, nothing sent", async () => {
    const before = server.requests.length;
    const reference = expectParity(await observeAll({}, 1, streamingSurfaces));
    expect(reference).toMatchObject({ result: "BudgetExceededError", kinds: ["budget_exceeded"], posted: 0 });
    expect(server.requests.length).toBe(before);
  });
});
