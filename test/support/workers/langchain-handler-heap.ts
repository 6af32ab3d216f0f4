// Runs many ChatOpenAI calls (a real model on an in-process fetch) through one UsertrustCallbackHandler
// set on the long-lived model (`callbacks: [handler]`), as an app would, and prints as JSON on its
// last line the heap growth per call after gc and for how many runs totals() still answers.
// Arguments: a vault folder and the number of calls (default 4,500).
import { ChatOpenAI } from "@langchain/openai";
import { createEngine } from "../../../src/core/create-engine.ts";
import { UsertrustCallbackHandler } from "../../../src/middleware/langchain/index.ts";

const [vaultBase = "", callsArg = "4500"] = process.argv.slice(2);
// V8 keeps compiling hot code for the first ~1,500 calls (~1 MB here, with or without a handler):
// the heap is measured only after that.
const WARM_CALLS = 1_500;
const calls = Number(callsArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");
if (!(calls > WARM_CALLS)) throw new Error(`calls must exceed ${WARM_CALLS}`);

const body = JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
});
const fetch = async () => new Response(body, { headers: { "content-type": "application/json" } });
const engine = await createEngine({ vaultBase, budget: 1_000_000_000 });
const handler = new UsertrustCallbackHandler({ engine });
const model = new ChatOpenAI({
  model: "gpt-4o-mini",
  apiKey: "t",
  maxRetries: 0,
  maxTokens: 100,
  configuration: { baseURL: "http://x/v1", fetch: fetch as never },
  callbacks: [handler],
});

// Run ids are derived from the call's index, so the worker keeps nothing per call itself (a kept
// crypto.randomUUID() string costs ~500 B: V8 holds it as a tree of concatenated pieces).
const runIdOf = (index: number) => `00000000-0000-4000-8000-${index.toString(16).padStart(12, "0")}`;
const heapBytes = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

for (let index = 0; index < WARM_CALLS; index++) await model.invoke("hi", { runId: runIdOf(index) });
const warm = heapBytes();
for (let index = WARM_CALLS; index < calls; index++) await model.invoke("hi", { runId: runIdOf(index) });
const end = heapBytes();
let answered = 0;
for (let index = 0; index < calls; index++) if (handler.totals(runIdOf(index)).calls > 0) answered += 1;
const lastAnswers = handler.totals(runIdOf(calls - 1)).calls;
await engine.close();
process.stdout.write(
  `${JSON.stringify({ calls, warm, end, perCallBytes: (end - warm) / (calls - WARM_CALLS), answered, lastAnswers })}\n`,
);
