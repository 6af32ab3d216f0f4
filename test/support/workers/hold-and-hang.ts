/**
 * A child process that reserves budget holds on a vault and then hangs without settling them,
 * standing in for a process that crashes (or stalls) mid-call.
 *
 *   node --experimental-strip-types hold-and-hang.ts '<HangOptions as JSON>'
 *
 * Prints `held <reservedAtMs> <transferId>…` once every hold is on the ledger, then waits to be
 * killed. With `settleOnInput` it instead wakes on the first line on stdin, settles every hold at
 * its full size one after another, prints `settled <receipts as JSON>` and exits: a process that
 * was only stalled and finishes its calls after their holds expired.
 * It exits on its own after LIFETIME_MS_MAX so a parent that died cannot leak it.
 * Import only its types: importing the module runs it.
 */
import { once } from "node:events";
import { createEngine } from "../../../src/core/create-engine.ts";
import type { Hold } from "../../../src/core/hold.ts";
import { holdUsage } from "../../../src/core/hold-sizing.ts";

export interface HangOptions {
  vaultBase: string;
  /** Holds to reserve, all for the same request. */
  holds: number;
  promptParts: string[];
  maxOutputTokens: number;
  settleOnInput?: boolean;
}

const LIFETIME_MS_MAX = 30_000;

const options = JSON.parse(process.argv[2] ?? "") as HangOptions;
const lifetime = setTimeout(() => process.exit(3), LIFETIME_MS_MAX);

const engine = await createEngine({ vaultBase: options.vaultBase });
const holds: Hold[] = [];
for (let index = 0; index < options.holds; index++) {
  const hold = await engine.authorize({
    provider: "openai",
    model: "gpt-4o-mini",
    promptParts: options.promptParts,
    maxOutputTokens: options.maxOutputTokens,
  });
  holds.push(hold);
}
process.stdout.write(`held ${Date.now()} ${holds.map((hold) => hold.transferId).join(" ")}\n`);

if (options.settleOnInput === true) {
  await once(process.stdin, "data");
  process.stdin.destroy();
  const receipts = [];
  for (const hold of holds) {
    receipts.push(await hold.settle(holdUsage(hold.terms.inputTokensEstimate, hold.terms.maxOutputTokens)));
  }
  await engine.close();
  process.stdout.write(`settled ${JSON.stringify(receipts)}\n`);
  clearTimeout(lifetime);
}
