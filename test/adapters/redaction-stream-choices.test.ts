import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README, restore: "in stream deltas (a placeholder split across chunks is held back until it is
 * complete)". With `n: 2`, OpenAI interleaves the choices' chunks, each chunk carrying its choice
 * as `choices: [{ index: k, delta }]` — always at array position 0; parallel tool calls likewise
 * carry `tool_calls: [{ index: j, function: { arguments } }]`. A held-back tail belongs to the
 * choice and tool call those `index` fields name, not to the array position.
 *
 * The OpenAI stand-in streams one choice only, so this file serves the interleaved chunks itself.
 */

const EMAIL = "jane.doe@example.com";
/** [choice index, delta] in wire order. */
const DELTAS: Array<[number, string]> = [
  [0, "Write to [EMA"],
  [1, "Sure, "],
  [0, "IL_1] now."],
  [1, "writing to [EMAIL_1]."],
];

const BASE = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini" };

/** Two choices' text deltas, interleaved as `n: 2` streams them. */
function choiceChunks(): unknown[] {
  return [
    ...[0, 1].map((index) => ({
      ...BASE,
      choices: [{ index, delta: { role: "assistant", content: "" }, finish_reason: null }],
    })),
    ...DELTAS.map(([index, content]) => ({
      ...BASE,
      choices: [{ index, delta: { content }, finish_reason: null }],
    })),
    ...[0, 1].map((index) => ({ ...BASE, choices: [{ index, delta: {}, finish_reason: "stop" }] })),
  ];
}

let server: Server;
let url = "";
/** The chunks the server streams next (without the final usage chunk). */
let chunks: unknown[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const usage = {
        ...BASE,
        choices: [],
        usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
      };
      const events = [...chunks, usage];
      res.end(`${events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join("")}data: [DONE]\n\n`);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function restoringClient() {
  const vault = makeTempVault({ budget: 1_000_000 });
  const sdk = new OpenAI({ apiKey: "t", baseURL: `${url}/v1`, maxRetries: 0 });
  const client = await trust(sdk, {
    vaultBase: vault.base,
    shape: "native",
    config: { pii: { mode: "redact", restore: true } },
  });
  cleanups.push(async () => {
    await client.destroy();
    vault.cleanup();
  });
  return client;
}

describe("OpenAI chat stream with n: 2, pii redact + restore", () => {
  it("each choice gets its own text back, restored", async () => {
    chunks = choiceChunks();
    const client = await restoringClient();
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      n: 2,
      stream: true,
      messages: [{ role: "user", content: `Email ${EMAIL} please` }],
    });
    const texts = ["", ""];
    for await (const chunk of stream) {
      for (const choice of chunk.choices) texts[choice.index] += choice.delta.content ?? "";
    }
    expect(texts).toEqual([`Write to ${EMAIL} now.`, `Sure, writing to ${EMAIL}.`]);
  });
});

describe("OpenAI chat stream with parallel tool calls, pii redact + restore", () => {
  it("each tool call's arguments are restored on their own and still parse", async () => {
    const call = (index: number, id: string | undefined, args: string) => ({
      ...BASE,
      choices: [
        {
          index: 0,
          delta: {
            tool_calls: [
              {
                index,
                ...(id === undefined ? {} : { id, type: "function" }),
                function: { ...(id === undefined ? {} : { name: "send_mail" }), arguments: args },
              },
            ],
          },
          finish_reason: null,
        },
      ],
    });
    chunks = [
      { ...BASE, choices: [{ index: 0, delta: { role: "assistant", content: null }, finish_reason: null }] },
      call(0, "call_a", '{"to":"[EMA'),
      call(1, "call_b", '{"to":"'),
      call(0, undefined, 'IL_1]"}'),
      call(1, undefined, 'someone"}'),
      { ...BASE, choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] },
    ];
    const client = await restoringClient();
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      stream: true,
      messages: [{ role: "user", content: `Email ${EMAIL} and someone else` }],
    });
    const args = ["", ""];
    for await (const chunk of stream) {
      for (const toolCall of chunk.choices[0]?.delta.tool_calls ?? [])
        args[toolCall.index] += toolCall.function?.arguments ?? "";
    }
    expect(args.map((source) => JSON.parse(source))).toEqual([{ to: EMAIL }, { to: "someone" }]);
  });
});
