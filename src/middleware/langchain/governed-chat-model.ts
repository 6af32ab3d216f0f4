import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager";
import type {
  BaseLanguageModelInput,
  StructuredOutputMethodOptions,
} from "@langchain/core/language_models/base";
import {
  BaseChatModel,
  type BaseChatModelCallOptions,
  type BindToolsInput,
} from "@langchain/core/language_models/chat_models";
import type { ModelProfile } from "@langchain/core/language_models/profile";
import { AIMessage, AIMessageChunk, type BaseMessage } from "@langchain/core/messages";
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs";
import type { Runnable } from "@langchain/core/runnables";
import type { SerializableSchema } from "@langchain/core/utils/standard_schema";
import type { ZodV3Like, ZodV4Like } from "@langchain/core/utils/types";
import type { Engine } from "../../core/engine.ts";
import { refuseServerHeldRedaction } from "../../core/surface/redaction.ts";
import {
  receiptJson,
  type SurfaceOptions,
  surfaceContext,
  surfaceEngine,
  surfaceSettings,
} from "../../core/surface/shared-engine.ts";
import { openLangChainCall, releaseCall, settleMessage } from "./governed-call.ts";
import { identify, type ModelIdentity, requestFieldsOf } from "./messages-request.ts";
import { AnthropicStreamOutput, StreamMeter } from "./stream-meter.ts";
import { governedStructuredOutput } from "./structured-output.ts";

export const RECEIPT_KEY = "usertrust";

const identities = new WeakMap<object, ModelIdentity>();

/** The schemas withStructuredOutput takes: zod 3 or 4, a standard schema, or a JSON schema. */
// biome-ignore lint/suspicious/noExplicitAny: the RunOutput constraint BaseChatModel declares.
type OutputSchema<RunOutput extends Record<string, any>> =
  | ZodV4Like<RunOutput>
  | ZodV3Like<RunOutput>
  | SerializableSchema<RunOutput>
  | Record<string, unknown>;

type Inner = Runnable<BaseMessage[], AIMessageChunk> & {
  bindTools?: (tools: BindToolsInput[], kwargs?: unknown) => Inner;
};

/**
 * A chat model that governs every call of the model it wraps — invoke, batch, stream and
 * streamEvents (both versions) — and works wherever a chat model does (createAgent, chains,
 * bindTools, withStructuredOutput). The receipt is on the AIMessage's `response_metadata.usertrust` (for a stream, on its
 * last chunk, so the aggregated message carries it). Per-invocation context comes from
 * `config.metadata.usertrust` ({ scope, actor, metadata }).
 */
export class GovernedChatModel extends BaseChatModel<BaseChatModelCallOptions, AIMessageChunk> {
  readonly #inner: Inner;
  readonly #settings: SurfaceOptions;
  readonly #identity: ModelIdentity;
  readonly #engine: () => Promise<Engine>;
  readonly #tools: unknown;

  constructor(
    inner: Inner,
    settings: SurfaceOptions,
    identity: ModelIdentity = identify(inner),
    tools?: unknown,
  ) {
    // An empty callbacks list makes LangChain always create a run manager, which carries config.metadata.
    super({ callbacks: [] });
    this.#inner = inner;
    this.#settings = settings;
    this.#identity = identity;
    identities.set(this, identity);
    this.#engine = surfaceEngine(settings);
    this.#tools = tools;
  }

  // BaseChatModel's constructor calls this before our fields exist.
  _llmType(): string {
    return identities.get(this)?.provider ?? "usertrust";
  }

  get model(): string {
    return this.#identity.model;
  }

  // What the wrapped model can do (createAgent reads `structuredOutput` to pick its responseFormat strategy).
  override get profile(): ModelProfile {
    return (this.#inner as { profile?: ModelProfile }).profile ?? {};
  }

  async _generate(
    messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun,
  ): Promise<ChatResult> {
    const call = await this.#open(messages, options, runManager);
    let message: AIMessageChunk;
    try {
      // callbacks: [] so the caller's handlers see one run per call, not the inner one again.
      message = await this.#inner.invoke(call.messages, { ...options, callbacks: [] });
    } catch (error) {
      await releaseCall(call.hold, error);
      throw error;
    }
    const receipt = receiptJson(await settleMessage(call, message));
    call.restore?.(message);
    const out = new AIMessage({
      content: message.content,
      tool_calls: message.tool_calls ?? [],
      ...(message.usage_metadata === undefined ? {} : { usage_metadata: message.usage_metadata }),
      ...(message.id === undefined ? {} : { id: message.id }),
      additional_kwargs: message.additional_kwargs,
      response_metadata: { ...message.response_metadata, [RECEIPT_KEY]: receipt },
    });
    return {
      generations: [{ text: out.text, message: out, generationInfo: { [RECEIPT_KEY]: receipt } }],
      llmOutput: { [RECEIPT_KEY]: receipt },
    };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const call = await this.#open(messages, options, runManager);
    const streamed = new StreamMeter();
    const output = new AnthropicStreamOutput();
    // With restore, chunks wait while a placeholder may be split across them (see ChunkRestorer).
    const restorer = call.chunkRestorer?.();
    const held: AIMessageChunk[] = [];
    async function* deliver(chunks: AIMessageChunk[]): AsyncGenerator<ChatGenerationChunk> {
      for (const chunk of chunks) {
        const generation = new ChatGenerationChunk({ text: chunk.text, message: chunk });
        yield generation;
        await runManager?.handleLLMNewToken(chunk.text, undefined, undefined, undefined, undefined, {
          chunk: generation,
        });
      }
    }
    let completed = false;
    try {
      const stream = await this.#inner.stream(call.messages, { ...options, callbacks: [] });
      for await (const chunk of stream) {
        streamed.observe(chunk);
        output.observe(chunk);
        restorer?.chunk(chunk);
        held.push(chunk);
        if (restorer?.pending() !== true) yield* deliver(held.splice(0));
      }
      restorer?.finish();
      yield* deliver(held.splice(0));
      completed = true;
    } catch (error) {
      const received = streamed.message();
      if (received === undefined) await releaseCall(call.hold, error);
      else await settleMessage(call, received, output.total, true).catch(() => {});
      // What was received before a failure still reaches the consumer, then the failure.
      restorer?.finish();
      yield* deliver(held.splice(0));
      throw error;
    } finally {
      // A consumer that stops early (break, abort) still pays for what was generated so far.
      if (!completed && !call.hold.ended)
        await settleMessage(call, streamed.message(), output.total, true).catch(() => {});
    }
    const receipt = receiptJson(await settleMessage(call, streamed.message(), output.total));
    yield new ChatGenerationChunk({
      text: "",
      message: new AIMessageChunk({ content: "", response_metadata: { [RECEIPT_KEY]: receipt } }),
      generationInfo: { [RECEIPT_KEY]: receipt },
    });
  }

  override bindTools(tools: BindToolsInput[], kwargs?: Partial<BaseChatModelCallOptions>): GovernedChatModel {
    if (typeof this.#inner.bindTools !== "function") {
      throw new TypeError(`the wrapped ${this.#identity.provider} model does not support tools`);
    }
    return new GovernedChatModel(this.#inner.bindTools(tools, kwargs), this.#settings, this.#identity, tools);
  }

  /**
   * The wrapped model's structured output (tool calling, JSON schema or JSON mode, as it supports),
   * every call of it governed like invoke; with `includeRaw`, the receipt is on `raw`.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the RunOutput constraint BaseChatModel declares.
  override withStructuredOutput<RunOutput extends Record<string, any> = Record<string, any>>(
    schema: OutputSchema<RunOutput>,
    config?: StructuredOutputMethodOptions<false>,
  ): Runnable<BaseLanguageModelInput, RunOutput>;
  // biome-ignore lint/suspicious/noExplicitAny: the RunOutput constraint BaseChatModel declares.
  override withStructuredOutput<RunOutput extends Record<string, any> = Record<string, any>>(
    schema: OutputSchema<RunOutput>,
    config?: StructuredOutputMethodOptions<true>,
  ): Runnable<BaseLanguageModelInput, { raw: BaseMessage; parsed: RunOutput }>;
  override withStructuredOutput(
    schema: unknown,
    config?: StructuredOutputMethodOptions<boolean>,
  ): Runnable<BaseLanguageModelInput, unknown> {
    return governedStructuredOutput(this.#inner, this, schema, config, this.#identity.provider);
  }

  async #open(
    messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager: CallbackManagerForLLMRun | undefined,
  ) {
    const metadata = (runManager as unknown as { metadata?: Record<string, unknown> } | undefined)?.metadata;
    // Tools in the call options (`invoke(input, { tools })`) reach the inner model over bound ones.
    const callTools = (options as { tools?: unknown }).tools;
    const call = await openLangChainCall(
      await this.#engine(),
      this.#settings,
      surfaceContext(this.#settings),
      this.#identityFor(options),
      messages,
      metadata?.[RECEIPT_KEY],
      callTools ?? this.#tools,
    );
    const previous = (options as { previous_response_id?: unknown }).previous_response_id;
    if (previous !== undefined && previous !== null) await refuseServerHeldRedaction(call.hold);
    return call;
  }

  /** The model as this call sends it: per-call options (`invoke(messages, { service_tier })`) count too. */
  #identityFor(options: this["ParsedCallOptions"]): ModelIdentity {
    const requestFields = requestFieldsOf(this.#inner, options) ?? this.#identity.requestFields;
    return requestFields === undefined ? this.#identity : { ...this.#identity, requestFields };
  }
}

/** `governedChatModel(new ChatOpenAI({ model: "gpt-4o-mini" }), { budget: 50_000 })` */
export function governedChatModel(
  model: BaseChatModel,
  options: SurfaceOptions | Engine = {},
): GovernedChatModel {
  return new GovernedChatModel(model as unknown as Inner, surfaceSettings(options));
}
