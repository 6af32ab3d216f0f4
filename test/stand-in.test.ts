import OpenAI from "openai";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import { afterEach, describe, expect, it } from "vitest";
import { type OpenAIStandIn, type StandInBehaviour, startOpenAIStandIn } from "./support/openai-stand-in.ts";

const messages = [{ role: "user" as const, content: "Say hello." }];
const defaultPromptTokens = Math.ceil(Buffer.byteLength(JSON.stringify(messages)) / 4);
const started: OpenAIStandIn[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((standIn) => standIn.close()));
});

async function start(
  behaviour?: StandInBehaviour,
  options?: { record?: boolean },
): Promise<{ standIn: OpenAIStandIn; client: OpenAI }> {
  const standIn = await startOpenAIStandIn(behaviour, options);
  started.push(standIn);
  const client = new OpenAI({ baseURL: `${standIn.url}/v1`, apiKey: "test", maxRetries: 0 });
  return { standIn, client };
}

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** A streamed call that asks for usage (`include_usage`), read to the end. */
async function collectWithUsage(client: OpenAI): Promise<ChatCompletionChunk[]> {
  return collect(
    await client.chat.completions.create({
      model: "m",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    }),
  );
}

function contentOf(chunks: ChatCompletionChunk[]): string[] {
  return chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? ""));
}

describe("OpenAI stand-in", () => {
  it("answers a non-stream call with the reply and default usage", async () => {
    const { standIn, client } = await start();
    const completion = await client.chat.completions.create({ model: "gpt-4o-mini", messages });

    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe("gpt-4o-mini");
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.choices[0]?.message.content).toBe("Hello from the stand-in.");
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    expect(completion.usage).toEqual({
      prompt_tokens: defaultPromptTokens,
      completion_tokens: 4,
      total_tokens: defaultPromptTokens + 4,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    expect(standIn.requests).toHaveLength(1);
    expect(standIn.requests[0]).toMatchObject({
      method: "POST",
      path: "/v1/chat/completions",
      body: { model: "gpt-4o-mini", messages },
    });
    expect(standIn.requests[0]?.headers.authorization).toBe("Bearer test");
  });

  it("reports the configured token counts", async () => {
    const { client } = await start({
      reply: "Custom.",
      promptTokens: 100,
      completionTokens: 50,
      cachedTokens: 30,
      reasoningTokens: 20,
    });
    const completion = await client.chat.completions.create({ model: "m", messages });

    expect(completion.choices[0]?.message.content).toBe("Custom.");
    expect(completion.usage).toEqual({
      prompt_tokens: 100,
      completion_tokens: 50,
      total_tokens: 150,
      prompt_tokens_details: { cached_tokens: 30 },
      completion_tokens_details: { reasoning_tokens: 20 },
    });
  });

  it("streams one chunk per word and a final usage chunk when include_usage is asked", async () => {
    const { client } = await start();
    const chunks = await collectWithUsage(client);

    expect(contentOf(chunks)).toEqual(["", "Hello ", "from ", "the ", "stand-in.", ""]);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBe(4);
    expect(last?.usage?.prompt_tokens).toBe(defaultPromptTokens);
  });

  it("sends no usage in a stream unless include_usage is asked", async () => {
    const { client } = await start();
    const chunks = await collect(
      await client.chat.completions.create({ model: "m", messages, stream: true }),
    );

    expect(contentOf(chunks).join("")).toBe("Hello from the stand-in.");
    expect(chunks.every((chunk) => chunk.usage === undefined && chunk.choices.length === 1)).toBe(true);
  });

  it("puts growing cumulative usage on every chunk with cumulativeUsage", async () => {
    const { client } = await start({ cumulativeUsage: true, completionTokens: 8 });
    const chunks = await collectWithUsage(client);
    const completionTokens = chunks.map((chunk) => chunk.usage?.completion_tokens);

    expect(chunks.every((chunk) => chunk.choices.length === 1)).toBe(true);
    expect(completionTokens).toEqual([0, 2, 4, 6, 8, 8]);
    expect(chunks.every((chunk) => chunk.usage?.prompt_tokens === defaultPromptTokens)).toBe(true);
  });

  it("omits usage from both shapes with omitUsage", async () => {
    const { client } = await start({ omitUsage: true });
    const completion = await client.chat.completions.create({ model: "m", messages });
    const chunks = await collectWithUsage(client);

    expect(completion.usage).toBeUndefined();
    expect(contentOf(chunks).join("")).toBe("Hello from the stand-in.");
    expect(chunks.some((chunk) => chunk.usage)).toBe(false);
    expect(chunks.some((chunk) => chunk.choices.length === 0)).toBe(false);
  });

  it("makes the SDK stream throw after failAfterChunks content chunks", async () => {
    const { client } = await start({ failAfterChunks: 2, chunkDelayMs: 1 });
    const stream = await client.chat.completions.create({ model: "m", messages, stream: true });
    const received: string[] = [];

    await expect(async () => {
      for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? "");
    }).rejects.toThrow();
    expect(received).toEqual(["", "Hello ", "from "]);
  });

  it("fails the next requests with failStatus and lets the SDK retry", async () => {
    const { standIn } = await start({ failStatus: { status: 429, times: 1, retryAfterMs: 1 } });
    const client = new OpenAI({ baseURL: `${standIn.url}/v1`, apiKey: "test", maxRetries: 2 });
    const completion = await client.chat.completions.create({ model: "m", messages });

    expect(completion.choices[0]?.message.content).toBe("Hello from the stand-in.");
    expect(standIn.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "POST /v1/chat/completions",
      "POST /v1/chat/completions",
    ]);
  });

  it("surfaces the error status and body when retries are exhausted", async () => {
    const { client } = await start({ failStatus: { status: 500, times: 1 } });
    const error = await client.chat.completions.create({ model: "m", messages }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(500);
    expect((error as InstanceType<typeof OpenAI.APIError>).type).toBe("server_error");
    await expect(client.chat.completions.create({ model: "m", messages })).resolves.toBeDefined();
  });

  it("answers unknown paths with 404 and an OpenAI error body", async () => {
    const { standIn } = await start();
    const response = await fetch(`${standIn.url}/v1/nope`, { method: "POST", body: "{}" });

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: {
        message: "Unknown request URL: POST /v1/nope.",
        type: "invalid_request_error",
        param: null,
        code: "unknown_url",
      },
    });
  });

  it("keeps requests empty when record is false", async () => {
    const { standIn, client } = await start({}, { record: false });
    await client.chat.completions.create({ model: "m", messages });

    expect(standIn.requests).toEqual([]);
  });

  it("closes idempotently, even with a stream in flight", async () => {
    const { standIn, client } = await start({ chunkDelayMs: 10_000 });
    const stream = await client.chat.completions.create({ model: "m", messages, stream: true });
    const consumed = collect(stream);

    await Promise.all([standIn.close(), standIn.close()]);
    await expect(consumed).rejects.toThrow();
    await expect(standIn.close()).resolves.toBeUndefined();
  });
});
