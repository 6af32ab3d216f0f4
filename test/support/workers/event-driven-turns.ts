/**
 * An event-driven conversation, for heap tests: each turn's `chat.completions.stream()` starts the
 * next turn from its `end` event, over an in-process fetch that answers every request with the same
 * short stream. Run under --expose-gc (test/support/gc-worker.ts runs it):
 *
 *   node --expose-gc --experimental-strip-types event-driven-turns.ts <governed|bare> <vaultBase> <turns>
 *
 * `bare` runs the same loop on the OpenAI client itself, as the control. It prints one JSON line:
 * the heap after every MARK_EVERY_TURNS turns, `[{ turn, heapBytes }]`.
 */
import OpenAI from "openai";
import { trust } from "../../../src/adapters/trust.ts";

const MARK_EVERY_TURNS = 500;
const BUDGET_UT = 1_000_000_000;

const [mode, vaultBase, turnsArg = "2000"] = process.argv.slice(2);
if ((mode !== "governed" && mode !== "bare") || vaultBase === undefined) {
  throw new Error("usage: event-driven-turns.ts <governed|bare> <vaultBase> [turns]");
}
const turns = Number(turnsArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");

const chunk = (fields: object) => ({
  id: "c",
  object: "chat.completion.chunk",
  created: 1,
  model: "gpt-4o-mini",
  ...fields,
});
const chunks = [
  chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "hi" }, finish_reason: null }] }),
  chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
  chunk({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } }),
];
const sse = `${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join("")}data: [DONE]\n\n`;
const fetch = async () => new Response(sse, { headers: { "content-type": "text/event-stream" } });
const openai = new OpenAI({
  apiKey: "t",
  baseURL: "http://stand-in/v1",
  fetch: fetch as never,
  maxRetries: 0,
});
const governed =
  mode === "governed" ? await trust(openai, { vaultBase, budget: BUDGET_UT, shape: "native" }) : undefined;
const client = governed ?? openai;

const heapBytes = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const marks: Array<{ turn: number; heapBytes: number }> = [];
await new Promise<void>((done, fail) => {
  const turn = (n: number): void => {
    const stream = client.chat.completions.stream({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    stream.on("error", fail);
    stream.on("end", () => {
      if ((n + 1) % MARK_EVERY_TURNS === 0) marks.push({ turn: n + 1, heapBytes: heapBytes() });
      if (n + 1 >= turns) done();
      else turn(n + 1);
    });
  };
  turn(0);
});
await governed?.destroy();
process.stdout.write(`${JSON.stringify(marks)}\n`);
