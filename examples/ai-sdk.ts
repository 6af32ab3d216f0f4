/**
 * usertrust with the Vercel AI SDK, offline: a governed model against a local OpenAI stand-in.
 * Run: node --experimental-strip-types examples/ai-sdk.ts   (or npm run example:ai-sdk)
 *
 * Shows: a tool loop where each model call is held and settled (one receipt per step, a run
 * total), a tool the policy denies (the model gets an execution-denied result; the tool never
 * runs), and a stream whose receipt travels to a UI message's metadata.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool, toUIMessageStream } from "ai";
import { z } from "zod";
// In your own code: import { governModel, runTotal, usertrustToolApproval } from "usertrust/ai-sdk";
import { defaultConfig, initVault, resolveVault } from "../src/index.ts";
import {
  governModel,
  receiptOfStep,
  runTotal,
  usertrustToolApproval,
} from "../src/middleware/ai-sdk/index.ts";
import { startOpenAIStandIn } from "../test/support/openai-stand-in.ts";

const vaultBase = join(import.meta.dirname, "..", "demo-vault-ai-sdk");
const standIn = await startOpenAIStandIn({
  toolCall: { name: "delete_invoice", arguments: '{"id":"INV-7"}' },
});
try {
  rmSync(vaultBase, { recursive: true, force: true });
  const paths = resolveVault({ vaultBase });
  initVault(paths);
  writeFileSync(paths.config, `${JSON.stringify(defaultConfig(10_000), null, 2)}\n`);
  writeFileSync(
    join(paths.policiesDir, "tools.yml"),
    "- name: no-deleting-invoices\n  effect: deny\n  enforcement: hard\n  severity: high\n" +
      "  conditions:\n    - { field: tool_name, operator: eq, value: delete_invoice }\n",
  );
  writeFileSync(
    paths.config,
    `${JSON.stringify({ ...defaultConfig(10_000), policies: ["policies/default.yml", "policies/tools.yml"] }, null, 2)}\n`,
  );

  const openai = createOpenAI({ baseURL: `${standIn.url}/v1`, apiKey: "demo" });
  const model = governModel(openai.chat("gpt-4o-mini"), { vaultBase, actor: "invoice-agent" });
  let deleted = false;
  const tools = {
    delete_invoice: tool({
      description: "Delete an invoice",
      inputSchema: z.object({ id: z.string() }),
      execute: async () => {
        deleted = true;
        return "deleted";
      },
    }),
  };

  console.log("A tool loop: the model asks to delete an invoice; the policy denies the tool call.");
  const result = await generateText({
    model,
    tools,
    prompt: "Clean up invoice INV-7.",
    maxOutputTokens: 200,
    stopWhen: stepCountIs(3),
    toolApproval: usertrustToolApproval({ vaultBase, actor: "invoice-agent" }),
  });
  for (const [index, step] of result.steps.entries()) {
    const receipt = receiptOfStep(step);
    const parts = step.content.map((part) => part.type).join(", ");
    console.log(
      `  step ${index + 1}: cost ${receipt?.cost} UT; content: ${parts}${step.text ? ` "${step.text}"` : ""}`,
    );
  }
  const total = runTotal(result.steps);
  console.log(`  run total: ${total.cost} UT over ${total.calls} model calls; the tool ran: ${deleted}`);

  console.log("\nA stream whose receipt becomes UI message metadata:");
  standIn.setBehaviour({});
  const stream = streamText({ model, prompt: "Say hello.", maxOutputTokens: 100 });
  let stepReceipt: unknown;
  const ui = toUIMessageStream({
    stream: stream.stream,
    messageMetadata: ({ part }) => {
      if (part.type === "finish-step") stepReceipt = part.providerMetadata?.usertrust;
      return part.type === "finish" ? { usertrust: stepReceipt } : undefined;
    },
  });
  for await (const chunk of ui) {
    if (chunk.type === "finish")
      console.log(
        `  UI finish chunk metadata: cost ${(chunk.messageMetadata as { usertrust: { cost: number } }).usertrust.cost} UT`,
      );
  }
  console.log(`\nThe audit chain is in ${join("demo-vault-ai-sdk", ".usertrust", "audit", "events.jsonl")}.`);
} finally {
  await standIn.close();
}
