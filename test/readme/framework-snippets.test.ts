// The README's AI SDK and LangChain snippets, type-checked by `npx tsc --noEmit -p .` (never run
// here: the examples run them offline). Only undefined names are given values. The runtime part
// only keeps vitest content; a snippet that stops compiling fails `npm run typecheck` (CI).
import { openai } from "@ai-sdk/openai";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, stepCountIs, wrapLanguageModel } from "ai";
import { createAgent } from "langchain";
import { describe, expect, it } from "vitest";
import {
  governModel,
  governProvider,
  runTotal,
  usertrustMiddleware,
  usertrustToolApproval,
} from "../../src/middleware/ai-sdk/index.ts";
import {
  governedChatModel,
  runTotal as langchainRunTotal,
  UsertrustCallbackHandler,
  usertrustAgentMiddleware,
} from "../../src/middleware/langchain/index.ts";

const opts = { vaultBase: "/nonexistent" };

async function aiSdkSnippet(prompt: string) {
  const tools = {};
  const model = wrapLanguageModel({
    model: openai("gpt-4o-mini"),
    middleware: usertrustMiddleware({ budget: 50_000 }),
  });
  governModel(openai("gpt-4o-mini"), opts);
  governProvider(openai, opts);
  const result = await generateText({
    model,
    tools,
    stopWhen: stepCountIs(5),
    prompt,
    toolApproval: usertrustToolApproval(opts),
    providerOptions: {
      usertrust: { scope: "production/search", actor: "agent-7", metadata: { team: "search" } },
    },
  });
  result.steps.map((step) => step.providerMetadata?.usertrust);
  return runTotal(result.steps);
}

async function langchainSnippet(input: { messages: Array<{ role: "user"; content: string }> }) {
  const tools: never[] = [];
  const model = governedChatModel(new ChatOpenAI({ model: "gpt-4o-mini" }), { budget: 50_000 });
  const message = await model.invoke("Hello", { metadata: { usertrust: { scope: "production/chat" } } });
  message.response_metadata.usertrust;
  const agent = createAgent({
    model: new ChatOpenAI({ model: "gpt-4o-mini" }),
    tools,
    middleware: [usertrustAgentMiddleware(opts)],
  });
  const { messages } = await agent.invoke(input, { context: { usertrust: { actor: "agent-7" } } });
  langchainRunTotal(messages);
  const handler = new UsertrustCallbackHandler({ ...opts, blocking: true });
  return handler;
}

describe("README framework snippets", () => {
  it("type-check (see tsc)", () => {
    expect(typeof aiSdkSnippet).toBe("function");
    expect(typeof langchainSnippet).toBe("function");
  });
});
