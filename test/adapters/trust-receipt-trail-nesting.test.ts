import type { CallableTool, FunctionCall, Part } from "@google/genai";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { receiptOf, receiptsOf } from "../../src/adapters/receipt-trail.ts";
import { trust } from "../../src/adapters/trust.ts";
import { runGcWorker } from "../support/gc-worker.ts";
import { type GoogleStandIn, startGoogleStandIn } from "../support/google-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/**
 * README "native shape": `receiptsOf(helper)` gives one receipt per model request the helper made.
 * A helper runs its requests in its trail's context; the caller's code it calls back (event
 * listeners) and work the caller's code leaves behind once the helper has ended must not make
 * their requests part of it — or a conversation driven by events nests every turn in the one
 * before, and the trails of a long conversation grow without limit.
 */
let openai: OpenAIStandIn;
let google: GoogleStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  [openai, google] = await Promise.all([startOpenAIStandIn(), startGoogleStandIn()]);
});
afterAll(async () => {
  await Promise.all([openai.close(), google.close()]);
});
afterEach(async () => {
  openai.setBehaviour({});
  google.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const MODEL = "gpt-4o-mini";
const GEMINI = "gemini-2.5-flash";
const BUDGET_UT = 1_000_000;

async function openaiClient() {
  const vault = makeTempVault({ budget: BUDGET_UT });
  const client = await trust(new OpenAI({ apiKey: "t", baseURL: `${openai.url}/v1`, maxRetries: 0 }), {
    vaultBase: vault.base,
    shape: "native",
  });
  cleanups.push(async () => {
    await client.destroy();
    vault.cleanup();
  });
  return client;
}

async function googleClient() {
  const vault = makeTempVault({ budget: BUDGET_UT });
  const genai = new GoogleGenAI({ apiKey: "t", httpOptions: { baseUrl: google.url } });
  const client = await trust(genai, { vaultBase: vault.base, shape: "native" });
  cleanups.push(async () => {
    await client.destroy();
    vault.cleanup();
  });
  return client;
}

/** A promise that work can be queued on, and the function that lets that work run. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const ask = (content: string) => ({ model: MODEL, messages: [{ role: "user" as const, content }] });

describe("receipt trails of helpers driven by events", () => {
  it("a stream's receipts are its own request's, not those of turns started from its 'end' event", async () => {
    const client = await openaiClient();
    const streams: unknown[] = [];
    await new Promise<void>((done, fail) => {
      const turn = (n: number): void => {
        const stream = client.chat.completions.stream(ask(`turn ${n}`));
        streams.push(stream);
        stream.on("error", fail);
        stream.on("end", () => (n === 4 ? done() : turn(n + 1)));
      };
      turn(0);
    });
    const first = await receiptsOf(streams[0]);
    const last = await receiptOf(streams[4]);
    expect(first).toHaveLength(1);
    expect((await receiptOf(streams[0])).transferId).not.toBe(last.transferId);
    expect(await receiptsOf(streams[4])).toHaveLength(1);
  });

  it("a request started from a stream's listener while the stream runs is not one of the stream's", async () => {
    const client = await openaiClient();
    const stream = client.chat.completions.stream(ask("main"));
    let side: Promise<unknown> | undefined;
    stream.on("chunk", () => {
      side ??= client.chat.completions.create(ask("side"));
    });
    await stream.done();
    const sideReceipt = await receiptOf(await side);
    const own = await receiptsOf(stream);
    expect(own).toHaveLength(1);
    expect(own[0]?.transferId).not.toBe(sideReceipt.transferId);
  });

  it("a request a tool queued for after its runner ended is not one of the runner's", async () => {
    const client = await openaiClient();
    openai.setBehaviour({
      toolCall: { name: "get_weather", arguments: '{"city":"Paris"}' },
      reply: "Sunny.",
    });
    const later = gate();
    let queued: Promise<unknown> | undefined;
    const runner = client.chat.completions.runTools({
      ...ask("What is the weather in Paris?"),
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "The weather in a city",
            parse: JSON.parse,
            parameters: { type: "object", properties: { city: { type: "string" } } },
            function: () => {
              // Work the tool leaves behind, in the context it ran in (the runner's).
              queued = later.opened.then(() => client.chat.completions.create(ask("follow-up")));
              return "sunny";
            },
          },
        },
      ],
    });
    await runner.done();
    openai.setBehaviour({});
    later.open();
    const followUp = await receiptOf(await queued);
    const own = await receiptsOf(runner);
    expect(own).toHaveLength(2);
    expect(own.map((receipt) => receipt.transferId)).not.toContain(followUp.transferId);
  });
});

describe("receipt trails of Gemini requests that run the caller's tools", () => {
  const WEATHER_CALL = { name: "get_weather", args: { city: "Paris" } };

  /** A CallableTool whose every call queues a generateContent to run once `later` opens. */
  function queuingTool(client: Awaited<ReturnType<typeof googleClient>>, later: Promise<void>) {
    const queued: Array<Promise<unknown>> = [];
    const tool: CallableTool = {
      tool: async () => ({
        functionDeclarations: [
          {
            name: "get_weather",
            parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } },
          },
        ],
      }),
      callTool: async (calls: FunctionCall[]): Promise<Part[]> => {
        queued.push(
          later.then(() => client.models.generateContent({ model: GEMINI, contents: "follow-up" })),
        );
        return calls.map((call) => ({
          functionResponse: { name: call.name ?? "", response: { sunny: true } },
        }));
      },
    };
    return { tool, queued };
  }

  it("generateContent: a request a tool queued for after the call resolved is not one of the call's", async () => {
    const client = await googleClient();
    google.setBehaviour({ functionCall: WEATHER_CALL });
    const later = gate();
    const { tool, queued } = queuingTool(client, later.opened);
    const result = await client.models.generateContent({
      model: GEMINI,
      contents: "What is the weather in Paris?",
      config: { tools: [tool] },
    });
    google.setBehaviour({});
    later.open();
    const followUp = await receiptOf(await queued[0]);
    const own = await receiptsOf(result);
    expect(own).toHaveLength(2);
    expect(own.map((receipt) => receipt.transferId)).not.toContain(followUp.transferId);
  });

  it("generateContentStream: a request a tool queued for after the stream was read is not one of the stream's", async () => {
    const client = await googleClient();
    google.setBehaviour({ functionCall: WEATHER_CALL });
    const later = gate();
    const { tool, queued } = queuingTool(client, later.opened);
    const stream = await client.models.generateContentStream({
      model: GEMINI,
      contents: "What is the weather in Paris?",
      config: { tools: [tool] },
    });
    for await (const _chunk of stream) {
      // read both rounds
    }
    google.setBehaviour({});
    later.open();
    const followUp = await receiptOf(await queued[0]);
    const own = await receiptsOf(stream);
    expect(own).toHaveLength(2);
    expect(own.map((receipt) => receipt.transferId)).not.toContain(followUp.transferId);
  });
});

describe("memory of a long event-driven conversation", () => {
  it("the heap stays flat over 2,000 turns, as it does on the bare client", async () => {
    const vault = makeTempVault({ budget: 1_000_000_000 });
    cleanups.push(vault.cleanup);
    type Marks = Array<{ turn: number; heapBytes: number }>;
    const worker = "event-driven-turns.ts";
    const governed = (await runGcWorker(worker, ["governed", vault.base, "2000"])) as Marks;
    const bare = (await runGcWorker(worker, ["bare", vault.base, "2000"])) as Marks;
    const growthOf = (marks: Marks) => (marks.at(-1)?.heapBytes ?? 0) - (marks[0]?.heapBytes ?? 0);
    const show = (marks: Marks) =>
      marks.map((mark) => `${mark.turn}: ${(mark.heapBytes / 1e6).toFixed(1)} MB`).join(", ");
    expect(governed).toHaveLength(4);
    // Before trails stopped nesting, the governed heap grew by about 20 MB over these turns.
    expect(
      growthOf(governed) - growthOf(bare),
      `governed heap by turn: ${show(governed)}; bare client: ${show(bare)}`,
    ).toBeLessThan(3_000_000);
  }, 120_000);
});
