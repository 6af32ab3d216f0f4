// Makes many dry-run governed calls through trust() and the real OpenAI SDK (answered by an
// in-process fetch, so only our own memory is measured) and prints the heap after each 5,000.
import OpenAI from "openai";
import { trust } from "../../../src/adapters/trust.ts";

const [vaultBase = ".", totalArg = "15500"] = process.argv.slice(2);
const total = Number(totalArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");

const completion = JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
});
const fetch = async () => new Response(completion, { headers: { "content-type": "application/json" } });
const openai = new OpenAI({ apiKey: "t", baseURL: "http://stand-in/v1", fetch, maxRetries: 0 });
const client = await trust(openai, { vaultBase, budget: 1_000_000_000, dryRun: true });
const messages = [{ role: "user" as const, content: "hi" }];
// The answers come from an in-process fetch, so the calls never leave the microtask queue; V8 keeps
// every WeakRef target made in a job (AbortSignal.any makes some, in the SDK and in trust()) until
// the job ends, which real network I/O always lets it do. Yielding once before measuring lets it.
const heap = async (): Promise<number> => {
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
for (let i = 0; i < 500; i++) await client.chat.completions.create({ model: "gpt-4o-mini", messages });
const marks: number[] = [];
for (let i = 500; i < total; i++) {
  await client.chat.completions.create({ model: "gpt-4o-mini", messages });
  if ((i + 1) % 5000 === 0) marks.push(await heap());
}
await client.destroy();
process.stdout.write(`${JSON.stringify({ marks })}\n`);
