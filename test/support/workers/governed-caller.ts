/**
 * A child process that makes governed OpenAI calls on a shared vault, for multi-process tests.
 *
 *   node --experimental-strip-types governed-caller.ts '<CallerOptions as JSON>'
 *
 * It speaks JSON lines on stdout: `{"type":"ready"}` once its client is open (then, with
 * `waitForGo`, it waits for a line on stdin), `{"type":"settled",…}` after each call when
 * `progress` is set, and `{"type":"summary",…}` last. Its `lanes` run calls side by side until the
 * first BudgetExceededError (or any other error), or until `maxCalls` calls were started.
 * Import only its types: importing the module runs it.
 */
import { once } from "node:events";
import OpenAI from "openai";
import { trust } from "../../../src/adapters/trust.ts";
import { BudgetExceededError } from "../../../src/core/errors.ts";
import type { TrustReceipt } from "../../../src/core/receipt.ts";

export interface CallerOptions {
  /** The stand-in's base URL including `/v1`. */
  baseURL: string;
  vaultBase: string;
  /** Named on this worker's audit events. */
  actor: string;
  /** Calls in flight at once. */
  lanes: number;
  /** Upper bound on calls started, so a worker never loops forever when the budget never runs out. */
  maxCalls: number;
  maxTokens: number;
  stream: boolean;
  progress: boolean;
  waitForGo: boolean;
}

export interface CallerSummary {
  type: "summary";
  actor: string;
  successes: number;
  refusals: number;
  costUsertokens: number;
  transferIds: string[];
  /** Errors other than BudgetExceededError, as "Name: message". */
  errors: string[];
}

/** A worker outlives its test by at most this long, even if its parent dies without killing it. */
const LIFETIME_MS_MAX = 60_000;

const options = JSON.parse(process.argv[2] ?? "") as CallerOptions;
setTimeout(() => process.exit(4), LIFETIME_MS_MAX).unref();

function emit(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const openai = new OpenAI({ baseURL: options.baseURL, apiKey: "test", maxRetries: 0 });
const client = await trust(openai, { vaultBase: options.vaultBase, actor: options.actor });
const body = {
  model: "gpt-4o-mini",
  messages: [{ role: "user" as const, content: "hi" }],
  max_tokens: options.maxTokens,
};

async function governedCall(): Promise<TrustReceipt> {
  if (!options.stream) return (await client.chat.completions.create(body)).receipt;
  const stream = await client.chat.completions.create({ ...body, stream: true });
  for await (const _ of stream) {
    // drain: the hold settles when the stream ends
  }
  return stream.receipt;
}

const summary: CallerSummary = {
  type: "summary",
  actor: options.actor,
  successes: 0,
  refusals: 0,
  costUsertokens: 0,
  transferIds: [],
  errors: [],
};
let started = 0;
let stopped = false;

async function lane(): Promise<void> {
  while (!stopped && started < options.maxCalls) {
    started++;
    try {
      const receipt = await governedCall();
      summary.successes++;
      summary.costUsertokens += receipt.cost;
      summary.transferIds.push(receipt.transferId);
      if (options.progress) emit({ type: "settled", transferId: receipt.transferId, cost: receipt.cost });
    } catch (error) {
      stopped = true;
      if (error instanceof BudgetExceededError) summary.refusals++;
      else summary.errors.push(`${(error as Error).name}: ${(error as Error).message}`);
    }
  }
}

emit({ type: "ready" });
if (options.waitForGo) {
  await once(process.stdin, "data");
  process.stdin.destroy();
}
await Promise.all(Array.from({ length: options.lanes }, lane));
await client.destroy();
emit(summary);
