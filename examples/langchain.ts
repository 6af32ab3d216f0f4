/**
 * usertrust with LangChain.js, offline: a governed agent whose tool call the policy denies.
 * Run: node --experimental-strip-types examples/langchain.ts   (or npm run example:langchain)
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChatOpenAI } from "@langchain/openai";
import { createAgent, tool } from "langchain";
import { z } from "zod";
import { defaultConfig, initVault, resolveVault } from "../src/index.ts";
// In your own code: import { runTotal, usertrustAgentMiddleware } from "usertrust/langchain";
import { runTotal, usertrustAgentMiddleware } from "../src/middleware/langchain/index.ts";
import { startOpenAIStandIn } from "../test/support/openai-stand-in.ts";

const vaultBase = join(import.meta.dirname, "..", "demo-vault-langchain");
const standIn = await startOpenAIStandIn({ toolCall: { name: "wire_money", arguments: '{"amount":5000}' } });
try {
  rmSync(vaultBase, { recursive: true, force: true });
  const paths = resolveVault({ vaultBase });
  initVault(paths);
  writeFileSync(
    join(paths.policiesDir, "tools.yml"),
    "- name: no-wires-from-agents\n  effect: deny\n  enforcement: hard\n  severity: critical\n" +
      "  conditions:\n    - { field: tool_name, operator: eq, value: wire_money }\n",
  );
  writeFileSync(
    paths.config,
    `${JSON.stringify({ ...defaultConfig(10_000), policies: ["policies/default.yml", "policies/tools.yml"] }, null, 2)}\n`,
  );

  let wired = false;
  const wireMoney = tool(
    async () => {
      wired = true;
      return "sent";
    },
    { name: "wire_money", description: "Wire money", schema: z.object({ amount: z.number() }) },
  );
  const model = new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "demo",
    configuration: { baseURL: `${standIn.url}/v1` },
  });
  const agent = createAgent({
    model,
    tools: [wireMoney],
    middleware: [usertrustAgentMiddleware({ vaultBase, actor: "payments-agent" })],
  });

  console.log("An agent asks to wire money; the policy denies the tool call and the agent carries on:");
  const { messages } = await agent.invoke({
    messages: [{ role: "user", content: "Pay the supplier 5000." }],
  });
  for (const message of messages) {
    const receipt = (message.response_metadata as { usertrust?: { cost: number } } | undefined)?.usertrust;
    const text = typeof message.content === "string" ? message.content : JSON.stringify(message.content);
    console.log(
      `  ${message.getType().padEnd(5)} ${text.slice(0, 90)}${receipt ? `  [receipt: ${receipt.cost} UT]` : ""}`,
    );
  }
  const total = runTotal(messages);
  console.log(`  run total: ${total.cost} UT over ${total.calls} model calls; money wired: ${wired}`);
} finally {
  await standIn.close();
}
