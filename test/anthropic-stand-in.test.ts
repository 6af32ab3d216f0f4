import Anthropic from "@anthropic-ai/sdk";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AnthropicStandIn,
  type AnthropicStandInBehaviour,
  startAnthropicStandIn,
} from "./support/anthropic-stand-in.ts";

type StreamEvent = Anthropic.RawMessageStreamEvent;
type APIError = InstanceType<typeof Anthropic.APIError>;

const model = "claude-sonnet-4-6";
const messages = [{ role: "user" as const, content: "Say hello." }];
const request = { model, max_tokens: 64, messages };
const defaultInputTokens = Math.ceil(Buffer.byteLength(JSON.stringify({ messages })) / 4);
const started: AnthropicStandIn[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((standIn) => standIn.close()));
});

async function start(
  behaviour?: AnthropicStandInBehaviour,
  options?: { record?: boolean },
): Promise<{ standIn: AnthropicStandIn; client: Anthropic }> {
  const standIn = await startAnthropicStandIn(behaviour, options);
  started.push(standIn);
  const client = new Anthropic({ baseURL: standIn.url, apiKey: "test", maxRetries: 0 });
  return { standIn, client };
}

async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

function textOf(events: StreamEvent[]): string[] {
  return events.flatMap((event) =>
    event.type === "content_block_delta" && event.delta.type === "text_delta" ? [event.delta.text] : [],
  );
}

describe("Anthropic stand-in", () => {
  it("answers a non-stream call with the reply and default usage", async () => {
    const { standIn, client } = await start();
    const message = await client.messages.create(request);

    expect(message).toMatchObject({ type: "message", role: "assistant", model, stop_reason: "end_turn" });
    expect(message.id).toMatch(/^msg_/);
    expect(message.content).toEqual([{ type: "text", text: "Hello from the stand-in." }]);
    expect(message.usage).toEqual({
      input_tokens: defaultInputTokens,
      output_tokens: 4,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      service_tier: "standard",
    });
    expect(standIn.requests).toHaveLength(1);
    expect(standIn.requests[0]).toMatchObject({ method: "POST", path: "/v1/messages", body: request });
    expect(standIn.requests[0]?.headers.authorization).toBe("Bearer test");
    expect(standIn.requests[0]?.headers["anthropic-version"]).toBeDefined();
  });

  it("counts the system prompt in the default input tokens", async () => {
    const { client } = await start();
    const system = "You are terse.";
    const message = await client.messages.create({ ...request, system });

    expect(message.usage.input_tokens).toBe(
      Math.ceil(Buffer.byteLength(JSON.stringify({ system, messages })) / 4),
    );
  });

  it("reports the configured token counts, cache fields included", async () => {
    const { client } = await start({
      reply: "Custom.",
      inputTokens: 100,
      outputTokens: 50,
      cacheReadInputTokens: 30,
      cacheCreation: { ephemeral5m: 15, ephemeral1h: 5 },
    });
    const message = await client.messages.create(request);

    expect(message.content).toEqual([{ type: "text", text: "Custom." }]);
    expect(message.usage).toMatchObject({
      input_tokens: 100,
      output_tokens: 50,
      cache_creation_input_tokens: 20,
      cache_read_input_tokens: 30,
      cache_creation: { ephemeral_5m_input_tokens: 15, ephemeral_1h_input_tokens: 5 },
    });
  });

  it("books cacheCreationInputTokens at the 5-minute TTL unless a breakdown is given", async () => {
    const { client } = await start({ cacheCreationInputTokens: 40 });
    const message = await client.messages.create(request);

    expect(message.usage.cache_creation_input_tokens).toBe(40);
    expect(message.usage.cache_creation).toEqual({
      ephemeral_5m_input_tokens: 40,
      ephemeral_1h_input_tokens: 0,
    });
  });

  it("streams the events in wire order with one text delta per word and the final usage on message_delta", async () => {
    const { client } = await start({ cacheReadInputTokens: 7, cacheCreationInputTokens: 3 });
    const events = await collect(await client.messages.create({ ...request, stream: true }));

    expect(events.map((event) => event.type)).toEqual([
      "message_start",
      "content_block_start",
      ...Array<string>(4).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(textOf(events)).toEqual(["Hello ", "from ", "the ", "stand-in."]);
    const first = events[0];
    expect(first?.type === "message_start" && first.message.usage).toMatchObject({
      input_tokens: defaultInputTokens,
      output_tokens: 1,
      cache_read_input_tokens: 7,
      cache_creation_input_tokens: 3,
    });
    const delta = events.find((event) => event.type === "message_delta");
    expect(delta?.delta).toEqual({ stop_reason: "end_turn", stop_sequence: null });
    expect(delta?.usage).toEqual({
      input_tokens: defaultInputTokens,
      output_tokens: 4,
      cache_creation_input_tokens: 3,
      cache_read_input_tokens: 7,
    });
  });

  it("sends the ping event on the wire, which the SDK filters out", async () => {
    const { standIn } = await start();
    const response = await fetch(`${standIn.url}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({ ...request, stream: true }),
    });
    const body = await response.text();

    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(body.match(/^event: \S+$/gm)?.slice(0, 4)).toEqual([
      "event: message_start",
      "event: content_block_start",
      "event: ping",
      "event: content_block_delta",
    ]);
  });

  it("gives the messages.stream() helper a final message with the text and usage", async () => {
    const { client } = await start({ outputTokens: 9, cacheReadInputTokens: 2 });
    const stream = client.messages.stream(request);
    const final = await stream.finalMessage();

    expect(final.content).toEqual([{ type: "text", text: "Hello from the stand-in." }]);
    expect(final.stop_reason).toBe("end_turn");
    expect(final.usage).toMatchObject({
      input_tokens: defaultInputTokens,
      output_tokens: 9,
      cache_read_input_tokens: 2,
    });
    expect(await stream.finalText()).toBe("Hello from the stand-in.");
  });

  it("counts tokens of the messages", async () => {
    const { standIn, client } = await start();
    const count = await client.messages.countTokens({ model, messages });

    expect(count).toEqual({ input_tokens: Math.ceil(Buffer.byteLength(JSON.stringify(messages)) / 4) });
    expect(standIn.requests[0]?.path).toBe("/v1/messages/count_tokens");
  });

  it("omits usage from the message and from message_delta with omitUsage", async () => {
    const { client } = await start({ omitUsage: true });
    const message = await client.messages.create(request);
    const events = await collect(await client.messages.create({ ...request, stream: true }));

    expect(message.usage).toBeUndefined();
    expect(textOf(events).join("")).toBe("Hello from the stand-in.");
    expect(
      events.some((event) => "usage" in event || (event.type === "message_start" && event.message.usage)),
    ).toBe(false);
  });

  it("fails the next requests with failStatus and lets the SDK retry", async () => {
    const { standIn } = await start({ failStatus: { status: 429, times: 1, retryAfterMs: 1 } });
    const client = new Anthropic({ baseURL: standIn.url, apiKey: "test", maxRetries: 2 });
    const message = await client.messages.create(request);

    expect(message.content).toEqual([{ type: "text", text: "Hello from the stand-in." }]);
    expect(standIn.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /v1/messages",
      "POST /v1/messages",
    ]);
  });

  it("surfaces a 500 as InternalServerError with an api_error body when retries are off", async () => {
    const { client } = await start({ failStatus: { status: 500, times: 1 } });
    const error = await client.messages.create(request).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect((error as APIError).status).toBe(500);
    expect((error as APIError).type).toBe("api_error");
    await expect(client.messages.create(request)).resolves.toBeDefined();
  });

  it("maps 429 to rate_limit_error and 529 to overloaded_error", async () => {
    const { standIn, client } = await start({ failStatus: { status: 429, times: 1 } });
    const rateLimited = await client.messages.create(request).catch((e: unknown) => e);
    standIn.setBehaviour({ failStatus: { status: 529, times: 1 } });
    const overloaded = await client.messages.create(request).catch((e: unknown) => e);

    expect(rateLimited).toBeInstanceOf(Anthropic.RateLimitError);
    expect((rateLimited as APIError).type).toBe("rate_limit_error");
    expect((overloaded as APIError).status).toBe(529);
    expect((overloaded as APIError).type).toBe("overloaded_error");
  });

  it("sends a mid-stream error event after errorEventAfter deltas, which the SDK throws as an APIError", async () => {
    const { client } = await start({ errorEventAfter: 2 });
    const stream = await client.messages.create({ ...request, stream: true });
    const received: StreamEvent[] = [];
    const error = await (async () => {
      for await (const event of stream) received.push(event);
    })().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as APIError).type).toBe("overloaded_error");
    expect(textOf(received)).toEqual(["Hello ", "from "]);
  });

  it("makes the SDK stream throw after failAfterEvents content deltas", async () => {
    const { client } = await start({ failAfterEvents: 2, chunkDelayMs: 1 });
    const stream = await client.messages.create({ ...request, stream: true });
    const received: StreamEvent[] = [];

    await expect(async () => {
      for await (const event of stream) received.push(event);
    }).rejects.toThrow();
    expect(textOf(received)).toEqual(["Hello ", "from "]);
    expect(received.some((event) => event.type === "content_block_stop")).toBe(false);
  });

  it("answers unknown paths with 404 and an Anthropic error body", async () => {
    const { standIn } = await start();
    const response = await fetch(`${standIn.url}/v1/nope`, { method: "POST", body: "{}" });

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      type: "error",
      error: { type: "not_found_error", message: "Unknown request URL: POST /v1/nope." },
    });
  });

  it("rejects a messages request without max_tokens, as the API does", async () => {
    const { standIn } = await start();
    const response = await fetch(`${standIn.url}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({ model, messages }),
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });

  it("keeps requests empty when record is false", async () => {
    const { standIn, client } = await start({}, { record: false });
    await client.messages.create(request);

    expect(standIn.requests).toEqual([]);
  });

  it("closes idempotently, even with a stream in flight", async () => {
    const { standIn, client } = await start({ chunkDelayMs: 10_000 });
    const stream = await client.messages.create({ ...request, stream: true });
    const consumed = collect(stream);

    await Promise.all([standIn.close(), standIn.close()]);
    await expect(consumed).rejects.toThrow();
    await expect(standIn.close()).resolves.toBeUndefined();
  });
});
