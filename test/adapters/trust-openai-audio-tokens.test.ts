import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { readAuditLog } from "../support/audit-log.ts";
import { useFixedServer } from "../support/fixed-response-server.ts";
import { tablePriceUsertokens, tableUsertokens } from "../support/price-table-oracle.ts";

// gpt-audio through chat.completions: audio tokens are billed at the audio rates, which the
// bundled table has: text $2.50 in / $10 out, audio $32 in / $64 out per million tokens.
// The API reports them inside prompt_tokens / completion_tokens, broken out in
// prompt_tokens_details.audio_tokens and completion_tokens_details.audio_tokens.
//
// 1,000 prompt tokens (800 audio, 200 text), 500 completion tokens (400 audio, 100 text):
//   200 × 2.5 + 800 × 32 + 100 × 10 + 400 × 64 = 500 + 25,600 + 1,000 + 25,600 = 52,700 µ$ = 527 UT.
// All at the text rates: 1,000 × 2.5 + 500 × 10 = 7,500 µ$ = 75 UT.
const MODEL = "gpt-audio";
const EXPECTED_UT = 527;

const usage = {
  prompt_tokens: 1_000,
  completion_tokens: 500,
  total_tokens: 1_500,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 800, text_tokens: 200 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 400, text_tokens: 100 },
};

const server = useFixedServer();

async function governed() {
  return (await governedWithVault()).client;
}

function governedWithVault() {
  return server.trusted((url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: "test", maxRetries: 0 }));
}

/** The hold the call's spend event records. */
function heldUsertokens(vault: { paths: { auditLog: string } }): number {
  const spend = readAuditLog(vault.paths.auditLog).find((event) => event.kind === "spend");
  return spend?.data.holdUsertokens as number;
}

function completion(reported: unknown) {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: MODEL,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: "hello", refusal: null },
        finish_reason: "stop",
        logprobs: null,
      },
    ],
    usage: reported,
  };
}

const request = {
  model: MODEL,
  modalities: ["text", "audio"] as Array<"text" | "audio">,
  audio: { voice: "alloy" as const, format: "wav" as const },
  messages: [
    {
      role: "user" as const,
      content: [
        { type: "text" as const, text: "What is said here?" },
        {
          type: "input_audio" as const,
          input_audio: {
            data: "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=",
            format: "wav" as const,
          },
        },
      ],
    },
  ],
  max_completion_tokens: 100_000,
};

describe("OpenAI audio tokens are charged at the audio rates", () => {
  it("the oracle: the bundled table prices this usage at 527 UT", () => {
    expect(tableUsertokens("openai", MODEL, "chat", { usage })).toBe(EXPECTED_UT);
  });

  it("chat.completions.create (gpt-audio) charges audio input and output tokens at the audio rates", async () => {
    const client = await governed();
    server.answer({
      json: {
        id: "chatcmpl-1",
        object: "chat.completion",
        created: 1,
        model: MODEL,
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: null,
              refusal: null,
              audio: { id: "audio_1", data: "AAAA", expires_at: 2, transcript: "hello" },
            },
            finish_reason: "stop",
            logprobs: null,
          },
        ],
        usage,
      },
    });
    const { receipt } = await client.chat.completions.create(request);
    expect(receipt.cost).toBe(EXPECTED_UT);
    await client.destroy();
  });

  it("the same call streamed charges the same", async () => {
    const client = await governed();
    const base = { id: "chatcmpl-2", object: "chat.completion.chunk", created: 1, model: MODEL };
    server.answer({
      done: true,
      sse: [
        {
          data: {
            ...base,
            choices: [
              {
                index: 0,
                delta: { role: "assistant", audio: { id: "audio_2", transcript: "hello" } },
                finish_reason: null,
              },
            ],
          },
        },
        { data: { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] } },
        { data: { ...base, choices: [], usage } },
      ],
    });
    const stream = await client.chat.completions.create({ ...request, stream: true });
    for await (const _chunk of stream) {
      // drain
    }
    expect((await stream.receipt).cost).toBe(EXPECTED_UT);
    await client.destroy();
  });

  it("keeps the audio parts on the receipt's usage", async () => {
    const client = await governed();
    server.answer({ json: completion(usage) });
    const { receipt } = await client.chat.completions.create(request);
    expect(receipt.usage).toEqual({
      inputTokens: 1_000,
      outputTokens: 500,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      inputAudioTokens: 800,
      outputAudioTokens: 400,
    });
    await client.destroy();
  });

  it("charges cached audio at the cached-audio rate when the cached part is broken down", async () => {
    // gpt-realtime: text $4 in / $0.40 cached / $16 out, audio $32 in / $0.40 cached / $64 out.
    // 1,000 prompt tokens: 800 audio (600 of them cached), 200 text; 100 text completion tokens.
    //   200 × 4 + 200 × 32 + 600 × 0.40 + 100 × 16 = 800 + 6,400 + 240 + 1,600 = 9,040 µ$ → 91 UT.
    const cachedAudio = {
      prompt_tokens: 1_000,
      completion_tokens: 100,
      total_tokens: 1_100,
      prompt_tokens_details: {
        cached_tokens: 600,
        audio_tokens: 800,
        cached_tokens_details: { audio_tokens: 600 },
      },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
    };
    expect(
      tablePriceUsertokens("openai", "gpt-realtime", {
        input_tokens: 1_000,
        cache_read_tokens: 600,
        input_audio_tokens: 800,
        cache_audio_read_tokens: 600,
        output_tokens: 100,
      }),
    ).toBe(91);
    const client = await governed();
    server.answer({ json: { ...completion(cachedAudio), model: "gpt-realtime" } });
    const { receipt } = await client.chat.completions.create({ ...request, model: "gpt-realtime" });
    expect(receipt.cost).toBe(91);
    await client.destroy();
  });

  it("the hold of a call that asks for audio output covers its output cap at the audio output rate", async () => {
    const { client, vault } = await governedWithVault();
    server.answer({ json: completion(usage) });
    await client.chat.completions.create({ ...request, max_completion_tokens: 1_000 });
    // 1,000 output tokens at $64/M = 640 UT.
    expect(heldUsertokens(vault)).toBeGreaterThanOrEqual(640);
    await client.destroy();
  });

  it("the hold of a text-only call to an audio model covers its output cap at the text rate", async () => {
    const { client, vault } = await governedWithVault();
    server.answer({ json: completion(usage) });
    const { modalities: _modalities, audio: _audio, ...textOnly } = request;
    await client.chat.completions.create({ ...textOnly, max_completion_tokens: 1_000 });
    // 1,000 output tokens at $10/M = 100 UT, plus the prompt.
    expect(heldUsertokens(vault)).toBeGreaterThanOrEqual(100);
    expect(heldUsertokens(vault)).toBeLessThan(200);
    await client.destroy();
  });
});
