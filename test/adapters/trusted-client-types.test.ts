import type OpenAI from "openai";
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import { describe, expectTypeOf, it } from "vitest";
import type { GovernedStream } from "../../src/adapters/governed-stream.ts";
import type { TrustedClient } from "../../src/adapters/trusted-client.ts";
import type { TrustReceipt } from "../../src/core/receipt.ts";

type Client = TrustedClient<OpenAI>;
type Create = Client["chat"]["completions"]["create"];

// These assertions are checked by `npm run typecheck`; the runtime part only keeps vitest content.
describe("TrustedClient<OpenAI> types", () => {
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

  it("keeps every other member of the SDK client with its own type", () => {
    expectTypeOf<Client["models"]>().toEqualTypeOf<OpenAI["models"]>();
    expectTypeOf<Client["chat"]["completions"]["parse"]>().toEqualTypeOf<
      OpenAI["chat"]["completions"]["parse"]
    >();
    expectTypeOf<Client["destroy"]>().toEqualTypeOf<() => Promise<void>>();
  });

  it("still rejects a malformed request at compile time", () => {
    const call = (create: Create) =>
      // @ts-expect-error `messages` is required by the SDK's own parameter type
      create({ model: "gpt-4o-mini" });
    expectTypeOf(call).toBeFunction();
  });
});
