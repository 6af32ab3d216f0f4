import { ApiError, type GenerateContentResponse, GoogleGenAI, type HttpOptions } from "@google/genai";
import { afterEach, describe, expect, it } from "vitest";
import {
  type GoogleStandIn,
  type GoogleStandInBehaviour,
  type RecordedRequest,
  startGoogleStandIn,
} from "./support/google-stand-in.ts";

const model = "gemini-2.5-flash";
const contents = "Say hello.";
const started: GoogleStandIn[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((standIn) => standIn.close()));
});

async function start(
  behaviour?: GoogleStandInBehaviour,
  options?: { record?: boolean },
  httpOptions: HttpOptions = {},
): Promise<{ standIn: GoogleStandIn; client: GoogleGenAI }> {
  const standIn = await startGoogleStandIn(behaviour, options);
  started.push(standIn);
  const client = new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: standIn.url, ...httpOptions } });
  return { standIn, client };
}

/** The stand-in's default prompt count: a quarter of the bytes of the `contents` the SDK sent, rounded up. */
function defaultPromptTokens(request: RecordedRequest | undefined): number {
  const sent = (request?.body as { contents?: unknown } | undefined)?.contents;
  return Math.ceil(Buffer.byteLength(JSON.stringify(sent)) / 4);
}

async function collect(stream: AsyncIterable<GenerateContentResponse>): Promise<GenerateContentResponse[]> {
  const chunks: GenerateContentResponse[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function textOf(response: GenerateContentResponse): string {
  return response.candidates?.[0]?.content?.parts?.map((part) => part.text ?? "").join("") ?? "";
}

describe("Google Gemini stand-in", () => {
  it("answers generateContent with the reply and default usageMetadata", async () => {
    const { standIn, client } = await start();
    const response = await client.models.generateContent({ model, contents });
    const promptTokens = defaultPromptTokens(standIn.requests[0]);

    expect(response.text).toBe("Hello from the stand-in.");
    expect(response.candidates?.[0]?.content?.role).toBe("model");
    expect(response.candidates?.[0]?.finishReason).toBe("STOP");
    expect(response.modelVersion).toBe(model);
    expect(response.responseId).toMatch(/^standin/);
    expect(response.usageMetadata).toEqual({
      promptTokenCount: promptTokens,
      candidatesTokenCount: 4,
      totalTokenCount: promptTokens + 4,
    });
    expect(standIn.requests).toHaveLength(1);
    expect(standIn.requests[0]).toMatchObject({
      method: "POST",
      path: `/v1/models/${model}:generateContent`,
      body: { contents: [{ role: "user", parts: [{ text: contents }] }] },
    });
    expect(standIn.requests[0]?.headers["x-goog-api-key"]).toBe("test");
  });

  it("reports the configured counts, with cached, thoughts and tool-use tokens", async () => {
    const { client } = await start({
      reply: "Custom.",
      promptTokens: 100,
      candidatesTokens: 50,
      cachedContentTokens: 30,
      thoughtsTokens: 20,
      toolUsePromptTokens: 10,
    });
    const response = await client.models.generateContent({ model, contents });

    expect(response.text).toBe("Custom.");
    // Gemini's total adds thoughts and tool-use prompt tokens; cached tokens are already inside the prompt.
    expect(response.usageMetadata).toEqual({
      promptTokenCount: 100,
      candidatesTokenCount: 50,
      totalTokenCount: 180,
      cachedContentTokenCount: 30,
      thoughtsTokenCount: 20,
      toolUsePromptTokenCount: 10,
    });
  });

  it("streams one chunk per word, each with cumulative usage, the last with finishReason STOP", async () => {
    const { standIn, client } = await start({ thoughtsTokens: 5 });
    const chunks = await collect(await client.models.generateContentStream({ model, contents }));
    const promptTokens = defaultPromptTokens(standIn.requests[0]);

    expect(chunks.map(textOf)).toEqual(["Hello ", "from ", "the ", "stand-in."]);
    expect(chunks.map((chunk) => chunk.usageMetadata?.candidatesTokenCount)).toEqual([1, 2, 3, 4]);
    expect(chunks.every((chunk) => chunk.usageMetadata?.promptTokenCount === promptTokens)).toBe(true);
    expect(chunks.every((chunk) => chunk.usageMetadata?.thoughtsTokenCount === 5)).toBe(true);
    expect(chunks.at(-1)?.usageMetadata?.totalTokenCount).toBe(promptTokens + 4 + 5);
    expect(chunks.map((chunk) => chunk.candidates?.[0]?.finishReason)).toEqual([
      undefined,
      undefined,
      undefined,
      "STOP",
    ]);
    expect(standIn.requests.map((request) => request.path)).toEqual([
      `/v1/models/${model}:streamGenerateContent`,
    ]);
  });

  it("spreads a configured candidates count over the chunks and reaches it on the last one", async () => {
    const { client } = await start({ candidatesTokens: 7 });
    const chunks = await collect(await client.models.generateContentStream({ model, contents }));

    expect(chunks.map((chunk) => chunk.usageMetadata?.candidatesTokenCount)).toEqual([2, 4, 5, 7]);
  });

  it("streams an empty reply as one empty chunk with finishReason STOP", async () => {
    const { client } = await start({ reply: "" });
    const chunks = await collect(await client.models.generateContentStream({ model, contents }));

    expect(chunks.map(textOf)).toEqual([""]);
    expect(chunks[0]?.candidates?.[0]?.finishReason).toBe("STOP");
    expect(chunks[0]?.usageMetadata?.candidatesTokenCount).toBe(0);
  });

  it("omits usageMetadata from both shapes with omitUsage", async () => {
    const { client } = await start({ omitUsage: true });
    const response = await client.models.generateContent({ model, contents });
    const chunks = await collect(await client.models.generateContentStream({ model, contents }));

    expect(response.usageMetadata).toBeUndefined();
    expect(chunks.map(textOf).join("")).toBe("Hello from the stand-in.");
    expect(chunks.some((chunk) => chunk.usageMetadata !== undefined)).toBe(false);
  });

  it("serves a chat session, which sends the history back on every turn", async () => {
    const { standIn, client } = await start();
    const chat = client.chats.create({ model });
    const first = await chat.sendMessage({ message: "Hi." });
    const second = await chat.sendMessage({ message: "Again." });

    expect(first.text).toBe("Hello from the stand-in.");
    expect(second.text).toBe("Hello from the stand-in.");
    expect(chat.getHistory()).toHaveLength(4);
    expect(standIn.requests.map((request) => request.path)).toEqual([
      `/v1/models/${model}:generateContent`,
      `/v1/models/${model}:generateContent`,
    ]);
    expect(standIn.requests[1]?.body).toMatchObject({
      contents: [
        { role: "user", parts: [{ text: "Hi." }] },
        { role: "model", parts: [{ text: "Hello from the stand-in." }] },
        { role: "user", parts: [{ text: "Again." }] },
      ],
    });
  });

  it("embeds through batchEmbedContents with one deterministic 8-value vector per content", async () => {
    const { standIn, client } = await start();
    const response = await client.models.embedContent({
      model: "gemini-embedding-001",
      contents: ["a", "b", "a"],
    });
    const vectors = response.embeddings?.map((embedding) => embedding.values) ?? [];

    expect(vectors).toHaveLength(3);
    expect(vectors.every((values) => values?.length === 8)).toBe(true);
    expect(vectors[2]).toEqual(vectors[0]);
    expect(vectors[1]).not.toEqual(vectors[0]);
    expect(standIn.requests[0]).toMatchObject({
      path: "/v1/models/gemini-embedding-001:batchEmbedContents",
      body: {
        requests: [{ model: "models/gemini-embedding-001", content: { parts: [{ text: "a" }] } }, {}, {}],
      },
    });
  });

  it("answers the single embedContent method, which the SDK does not use but REST clients do", async () => {
    const { standIn } = await start();
    const response = await fetch(`${standIn.url}/v1beta/models/gemini-embedding-001:embedContent`, {
      method: "POST",
      body: JSON.stringify({ content: { parts: [{ text: "a" }] } }),
    });
    const body = (await response.json()) as { embedding: { values: number[] } };

    expect(response.status).toBe(200);
    expect(body.embedding.values).toHaveLength(8);
  });

  it("counts tokens the same way generateContent reports the prompt", async () => {
    const { standIn, client } = await start();
    const counted = await client.models.countTokens({ model, contents });
    const generated = await client.models.generateContent({ model, contents });

    expect(counted.totalTokens).toBe(generated.usageMetadata?.promptTokenCount);
    expect(counted.totalTokens).toBe(defaultPromptTokens(standIn.requests[0]));
    expect(standIn.requests[0]?.path).toBe(`/v1/models/${model}:countTokens`);

    standIn.setBehaviour({ promptTokens: 42 });
    await expect(client.models.countTokens({ model, contents })).resolves.toMatchObject({ totalTokens: 42 });
  });

  it("serves the apiVersion the client picks", async () => {
    const { standIn, client } = await start({}, {}, { apiVersion: "v1beta" });
    const response = await client.models.generateContent({ model, contents });

    expect(response.text).toBe("Hello from the stand-in.");
    expect(standIn.requests[0]?.path).toBe(`/v1beta/models/${model}:generateContent`);
  });

  it("fails with failStatus, and the SDK throws ApiError without retrying by default", async () => {
    const { standIn, client } = await start({ failStatus: { status: 500, times: 1 } });
    const error = await client.models.generateContent({ model, contents }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(500);
    expect(JSON.parse((error as ApiError).message)).toEqual({
      error: { code: 500, message: "Stand-in failure 500.", status: "INTERNAL" },
    });
    expect(standIn.requests).toHaveLength(1);
    await expect(client.models.generateContent({ model, contents })).resolves.toBeDefined();
  });

  it("lets the SDK retry a 429 when the client sets retryOptions", async () => {
    const retryOptions = { attempts: 3, initialDelay: 0.001, jitter: 0 };
    const { standIn, client } = await start({ failStatus: { status: 429, times: 2 } }, {}, { retryOptions });
    const response = await client.models.generateContent({ model, contents });

    expect(response.text).toBe("Hello from the stand-in.");
    expect(standIn.requests).toHaveLength(3);
  });

  it("rejects the opening of a stream with failStatus, with RESOURCE_EXHAUSTED for 429", async () => {
    const { standIn, client } = await start({ failStatus: { status: 429, times: 1 } });
    const error = await client.models.generateContentStream({ model, contents }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(429);
    expect((error as ApiError).message).toContain('"status":"RESOURCE_EXHAUSTED"');
    expect(standIn.requests).toHaveLength(1);
  });

  it("makes stream iteration throw after failAfterChunks chunks, with no reconnect by the SDK", async () => {
    const { standIn, client } = await start({ failAfterChunks: 2, chunkDelayMs: 1 });
    const stream = await client.models.generateContentStream({ model, contents });
    const received: string[] = [];

    await expect(async () => {
      for await (const chunk of stream) received.push(textOf(chunk));
    }).rejects.toThrow();
    expect(received).toEqual(["Hello ", "from "]);
    // Without a continuationToken in the chunks, the SDK's automatic continuation has nothing to resume from.
    expect(standIn.requests).toHaveLength(1);
  });

  it("still breaks the stream when failAfterChunks exceeds the chunks, after the STOP chunk", async () => {
    const { client } = await start({ failAfterChunks: 10 });
    const stream = await client.models.generateContentStream({ model, contents });
    const received: string[] = [];

    await expect(async () => {
      for await (const chunk of stream) received.push(textOf(chunk));
    }).rejects.toThrow();
    expect(received).toEqual(["Hello ", "from ", "the ", "stand-in."]);
  });

  it("answers unknown paths with 404 and malformed bodies with 400, as Google error JSON", async () => {
    const { standIn } = await start();
    const unknown = await fetch(`${standIn.url}/v1/nope`, { method: "POST", body: "{}" });
    const malformed = await fetch(`${standIn.url}/v1/models/${model}:generateContent`, {
      method: "POST",
      body: "{}",
    });
    const notSse = await fetch(`${standIn.url}/v1/models/${model}:streamGenerateContent`, {
      method: "POST",
      body: JSON.stringify({ contents: [] }),
    });

    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: { code: 404, message: "Unknown request URL: POST /v1/nope.", status: "NOT_FOUND" },
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT" } });
    expect(notSse.status).toBe(400);
  });

  it("keeps requests empty when record is false", async () => {
    const { standIn, client } = await start({}, { record: false });
    await client.models.generateContent({ model, contents });

    expect(standIn.requests).toEqual([]);
  });

  it("closes idempotently, even with a stream in flight", async () => {
    const { standIn, client } = await start({ chunkDelayMs: 10_000 });
    const stream = await client.models.generateContentStream({ model, contents });
    const consumed = collect(stream);

    await Promise.all([standIn.close(), standIn.close()]);
    await expect(consumed).rejects.toThrow();
    await expect(standIn.close()).resolves.toBeUndefined();
  });
});
