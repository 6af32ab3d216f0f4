import type Anthropic from "@anthropic-ai/sdk";
import type { Message, RawMessageStreamEvent } from "@anthropic-ai/sdk/resources/messages";
import type { EmbedContentResponse, GenerateContentResponse, GoogleGenAI } from "@google/genai";
import type OpenAI from "openai";
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Response, ResponseStreamEvent } from "openai/resources/responses/responses";
import { describe, expectTypeOf, it } from "vitest";
import type { GovernedStream } from "../../src/adapters/governed-stream.ts";
import type { trust } from "../../src/adapters/trust.ts";
import type { TrustedClient } from "../../src/adapters/trusted-client.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";

type Client = TrustedClient<OpenAI>;
type Create = Client["chat"]["completions"]["create"];

// These assertions are checked by `npm run typecheck`; the runtime part only keeps vitest content.
describe("TrustedClient<OpenAI> types (spec shape)", () => {
  it("types a plain call as { response: ChatCompletion, receipt, governance }", () => {
    const call = (create: Create) => create({ model: "gpt-4o-mini", messages: [] });
    type Result = Awaited<ReturnType<typeof call>>;
    expectTypeOf<Result["response"]>().toExtend<ChatCompletion>();
    expectTypeOf<Result["receipt"]>().toEqualTypeOf<TrustReceipt>();
    expectTypeOf<Result["governance"]>().toEqualTypeOf<TrustReceipt>();
  });

  it("types a streaming call as a GovernedStream of chunks", () => {
    const call = (create: Create) => create({ model: "gpt-4o-mini", messages: [], stream: true });
    expectTypeOf<Awaited<ReturnType<typeof call>>>().toEqualTypeOf<GovernedStream<ChatCompletionChunk>>();
  });

  it("types responses.create plain and streaming", () => {
    const plain = (client: Client) => client.responses.create({ model: "gpt-4.1-mini", input: "hi" });
    expectTypeOf<Awaited<ReturnType<typeof plain>>["response"]>().toExtend<Response>();
    const streamed = (client: Client) =>
      client.responses.create({ model: "gpt-4.1-mini", input: "hi", stream: true });
    expectTypeOf<Awaited<ReturnType<typeof streamed>>>().toEqualTypeOf<GovernedStream<ResponseStreamEvent>>();
  });

  it("keeps every other member of the SDK client with its own type", () => {
    expectTypeOf<Client["models"]>().toEqualTypeOf<OpenAI["models"]>();
    expectTypeOf<Client["chat"]["completions"]["parse"]>().toEqualTypeOf<
      OpenAI["chat"]["completions"]["parse"]
    >();
    expectTypeOf<Client["responses"]["stream"]>().toEqualTypeOf<OpenAI["responses"]["stream"]>();
    expectTypeOf<Client["destroy"]>().toEqualTypeOf<() => Promise<void>>();
  });

  it("returns a spec-shaped client from withOptions()", () => {
    const derive = (client: Client) => client.withOptions({ timeout: 5 });
    expectTypeOf<ReturnType<typeof derive>>().toEqualTypeOf<TrustedClient<OpenAI>>();
  });

  it("still rejects a malformed request at compile time", () => {
    const call = (create: Create) =>
      // @ts-expect-error `messages` is required by the SDK's own parameter type
      create({ model: "gpt-4o-mini" });
    expectTypeOf(call).toBeFunction();
  });
});

describe("TrustedClient<Anthropic> and TrustedClient<GoogleGenAI> types (spec shape)", () => {
  type Claude = TrustedClient<Anthropic>;
  type Gemini = TrustedClient<GoogleGenAI>;

  it("types messages.create and beta.messages.create", () => {
    const plain = (client: Claude) =>
      client.messages.create({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [] });
    expectTypeOf<Awaited<ReturnType<typeof plain>>["response"]>().toExtend<Message>();
    const streamed = (client: Claude) =>
      client.messages.create({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [], stream: true });
    expectTypeOf<Awaited<ReturnType<typeof streamed>>>().toEqualTypeOf<
      GovernedStream<RawMessageStreamEvent>
    >();
    const beta = (client: Claude) =>
      client.beta.messages.create({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [] });
    expectTypeOf<Awaited<ReturnType<typeof beta>>["receipt"]>().toEqualTypeOf<TrustReceipt>();
    expectTypeOf<Claude["messages"]["stream"]>().toEqualTypeOf<Anthropic["messages"]["stream"]>();
    expectTypeOf<Claude["messages"]["countTokens"]>().toEqualTypeOf<Anthropic["messages"]["countTokens"]>();
  });

  it("types the Google models methods", () => {
    const plain = (client: Gemini) =>
      client.models.generateContent({ model: "gemini-2.5-flash", contents: "hi" });
    expectTypeOf<Awaited<ReturnType<typeof plain>>["response"]>().toEqualTypeOf<GenerateContentResponse>();
    const streamed = (client: Gemini) =>
      client.models.generateContentStream({ model: "gemini-2.5-flash", contents: "hi" });
    expectTypeOf<Awaited<ReturnType<typeof streamed>>>().toEqualTypeOf<
      GovernedStream<GenerateContentResponse>
    >();
    const embed = (client: Gemini) =>
      client.models.embedContent({ model: "gemini-embedding-001", contents: "hi" });
    expectTypeOf<Awaited<ReturnType<typeof embed>>["response"]>().toEqualTypeOf<EmbedContentResponse>();
    expectTypeOf<Gemini["chats"]>().toEqualTypeOf<GoogleGenAI["chats"]>();
  });
});

describe("TrustedClient types (native shape)", () => {
  it("is the SDK's own type, so existing code that takes the SDK client accepts it", () => {
    const existing = (_client: OpenAI): void => {};
    const claude = (_client: Anthropic): void => {};
    const gemini = (_client: GoogleGenAI): void => {};
    expectTypeOf(existing).toBeCallableWith({} as TrustedClient<OpenAI, "native">);
    expectTypeOf(claude).toBeCallableWith({} as TrustedClient<Anthropic, "native">);
    expectTypeOf(gemini).toBeCallableWith({} as TrustedClient<GoogleGenAI, "native">);
    expectTypeOf<TrustedClient<OpenAI, "native">["chat"]["completions"]["create"]>().toEqualTypeOf<
      OpenAI["chat"]["completions"]["create"]
    >();
  });

  it("is what trust() infers from { shape: 'native' }, and the spec shape otherwise", () => {
    const native = (client: OpenAI) => (null as unknown as typeof trust)(client, { shape: "native" });
    expectTypeOf<Awaited<ReturnType<typeof native>>>().toEqualTypeOf<TrustedClient<OpenAI, "native">>();
    const spec = (client: OpenAI) => (null as unknown as typeof trust)(client, { budget: 10 });
    expectTypeOf<Awaited<ReturnType<typeof spec>>>().toEqualTypeOf<TrustedClient<OpenAI, "spec">>();
  });
});
