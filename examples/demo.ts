/**
 * The usertrust demo: governed OpenAI calls against a local stand-in for the OpenAI API, on the
 * embedded durable ledger. No network and no API key needed. Run with `npm run demo`.
 *
 * It shows: receipts with real cost, a streamed call, a policy denial, a scoped daily budget with
 * its warning and refusal, a budget denial before the call leaves the process, `usertrust budget`,
 * `usertrust verify` on the audit chain, and what verify says after someone edits it.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import OpenAI from "openai";
// In your own code: import { trust, BudgetExceededError } from "usertrust";
import {
  BudgetExceededError,
  defaultConfig,
  initVault,
  PolicyDeniedError,
  receiptOf,
  resolveVault,
  type TrustReceipt,
  trust,
  withTrustContext,
} from "../src/index.ts";
import { startOpenAIStandIn } from "../test/support/openai-stand-in.ts";

const vaultBase = resolve("demo-vault");
const cli = resolve(import.meta.dirname, "../src/cli/main.ts");

function usertrust(...args: string[]): { code: number; output: string } {
  try {
    const output = execFileSync(
      process.execPath,
      ["--experimental-strip-types", "--no-warnings", cli, ...args],
      {
        encoding: "utf8",
      },
    );
    return { code: 0, output };
  } catch (error) {
    const failed = error as { status: number; stdout: string; stderr: string };
    return { code: failed.status, output: failed.stdout + failed.stderr };
  }
}

function show(label: string, receipt: TrustReceipt): void {
  const usage = `${receipt.usage.inputTokens} in / ${receipt.usage.outputTokens} out`;
  console.log(
    `  ${label.padEnd(22)} cost ${String(receipt.cost).padStart(4)} UT  remaining ${String(receipt.budgetRemaining).padStart(5)} UT` +
      `  ${usage} (${receipt.usageSource})  ${receipt.transferId}  audit ${receipt.auditHash.slice(0, 12)}…`,
  );
}

const standIn = await startOpenAIStandIn({ promptTokens: 1_200, completionTokens: 350 });
try {
  // A fresh vault with a budget of 1,000 UT ($0.10), as `usertrust init --budget 1000` makes it.
  rmSync(vaultBase, { recursive: true, force: true });
  const paths = resolveVault({ vaultBase });
  initVault(paths);
  // Calls scoped research/… also draw on a daily budget of 150 UT, with a warning at half of it.
  const config = {
    ...defaultConfig(1_000),
    budgets: [{ scope: "research/**", limit: 150, period: "day", timeZone: "UTC", warnAt: [0.5] }],
  };
  writeFileSync(paths.config, `${JSON.stringify(config, null, 2)}\n`);
  console.log(`Vault: ${paths.root} (budget 1,000 UT = $0.10; research/** 150 UT a day)\n`);

  const client = await trust(new OpenAI({ baseURL: `${standIn.url}/v1`, apiKey: "demo" }), { vaultBase });
  const question = [{ role: "user" as const, content: "Summarise the quarterly report in one line." }];

  console.log("Governed calls (gpt-4o: $2.50 / $10 per million input / output tokens):");
  for (const n of [1, 2, 3]) {
    const { response, receipt } = await client.chat.completions.create({
      model: "gpt-4o",
      messages: question,
      max_tokens: 800,
    });
    if (n === 1) console.log(`  reply: "${response.choices[0]?.message.content}"`);
    show(`call ${n}`, receipt);
  }

  const stream = await client.chat.completions.create({ model: "gpt-4o", messages: question, stream: true });
  let streamed = "";
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? "";
  show("streamed call", await stream.receipt);
  console.log(`  streamed text: "${streamed}"`);

  // The SDK's own helpers call create internally, so they are governed too; receiptOf finds the receipt.
  const helper = client.chat.completions.stream({ model: "gpt-4o", messages: question });
  const final = await helper.finalChatCompletion();
  show("stream() helper", await receiptOf(helper));
  console.log(`  helper's final text: "${final.choices[0]?.message.content}"`);

  console.log(
    "\nPolicy rules run before the hold; an edit to policies/default.yml applies to the next call:",
  );
  appendFileSync(
    paths.defaultPolicy,
    "\n- name: no-gpt-4o-in-production\n  effect: deny\n  enforcement: hard\n  severity: high\n" +
      '  conditions:\n    - { field: model, operator: eq, value: gpt-4o }\n  scopePatterns: ["production/**"]\n',
  );
  try {
    await withTrustContext({ scope: "production/billing", actor: "billing-agent" }, () =>
      client.chat.completions.create({ model: "gpt-4o", messages: question, max_tokens: 100 }),
    );
  } catch (error) {
    if (!(error instanceof PolicyDeniedError)) throw error;
    console.log(`  ${error.name} (rule ${error.rule}): ${error.reason}`);
  }
  standIn.setBehaviour({}); // usage as the stand-in counts this short prompt
  const pii = await client.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "Draft a reply to jane.doe@example.com about her invoice." }],
    max_tokens: 100,
  });
  standIn.setBehaviour({ promptTokens: 1_200, completionTokens: 350 });
  console.log(`  a prompt with an email address (pii: "warn"): ${pii.receipt.warnings.join("; ")}`);

  console.log("\nA research agent's calls also draw on its team's daily budget, all or nothing:");
  await withTrustContext({ scope: "research/literature-agent" }, async () => {
    for (const n of [1, 2, 3]) {
      try {
        const { receipt } = await client.chat.completions.create({
          model: "gpt-4o",
          messages: question,
          max_tokens: 800,
        });
        show(`research call ${n}`, receipt);
        for (const warning of receipt.warnings) console.log(`    warning: ${warning}`);
      } catch (error) {
        if (!(error instanceof BudgetExceededError)) throw error;
        console.log(`  research call ${n}: ${error.name} on budget "${error.account}"`);
      }
    }
  });

  console.log("\nA call whose hold does not fit the budget is refused before it leaves the process:");
  const sentBefore = standIn.requests.length;
  try {
    await client.chat.completions.create({ model: "gpt-4o", messages: question, max_tokens: 100_000 });
  } catch (error) {
    if (!(error instanceof BudgetExceededError)) throw error;
    console.log(`  ${error.name}: ${error.message}`);
    console.log(`  requests that reached the provider: ${standIn.requests.length - sentBefore}`);
  }
  await client.destroy();

  console.log("\n$ usertrust budget");
  console.log(usertrust("budget", "--vault-base", vaultBase).output.trimEnd());

  console.log("\n$ usertrust verify");
  const verified = usertrust("verify", "--vault-base", vaultBase);
  console.log(`${verified.output.trimEnd()}\n(exit ${verified.code})`);

  // Edit a copy of the chain the way someone hiding spend would, and verify the copy.
  const tamperedBase = `${vaultBase}-tampered`;
  const tampered = resolveVault({ vaultBase: tamperedBase });
  rmSync(tamperedBase, { recursive: true, force: true });
  mkdirSync(tampered.auditDir, { recursive: true });
  copyFileSync(paths.config, tampered.config);
  const lines = readFileSync(paths.auditLog, "utf8").split("\n");
  lines[1] = (lines[1] ?? "").replace(/"costUsertokens":\d+/, '"costUsertokens":1');
  writeFileSync(tampered.auditLog, lines.join("\n"));
  console.log("\n$ usertrust verify   # on a copy whose second event's cost was edited to 1 UT");
  const broken = usertrust("verify", "--vault-base", tamperedBase);
  console.log(`${broken.output.trimEnd()}\n(exit ${broken.code})`);
  rmSync(tamperedBase, { recursive: true, force: true });

  console.log(
    `\nThe vault stays in ${join("demo-vault", ".usertrust")}: audit/events.jsonl is the chain, ledger.db the ledger.`,
  );
} finally {
  await standIn.close();
}
