import { AIMessageChunk, type BaseMessage } from "@langchain/core/messages";

/**
 * The provider's names for who answered: the service tier that served the call and the model.
 * Each holds one value for the whole reply, but a stream may name them on several chunks —
 * @langchain/openai on the finishing chunk of every choice (`n > 1`), a Responses stream its model
 * on both the created and the completed event — and joining chunks (AIMessageChunk.concat)
 * concatenates strings: "defaultdefault" would be priced as an unknown premium tier.
 */
const NAMES = ["service_tier", "model_name", "model"] as const;

type Names = Partial<Record<(typeof NAMES)[number], string>>;

/**
 * What a LangChain chat stream has delivered, as settling reads it: its chunks' text, usage and
 * metadata joined, with the tier and model the provider named last, as trust()'s ChatStreamMeter
 * keeps them. Feed it every chunk, with the chunk's generation info when there is one
 * (@langchain/openai names the tier there, and LangChain copies it into the message's metadata
 * only when the chunk reaches `model.stream()`).
 */
export class StreamMeter {
  #joined: AIMessageChunk | undefined;
  readonly #names: Names = {};

  observe(chunk: BaseMessage, generationInfo?: unknown): void {
    const part = meteredPart(chunk);
    this.#joined = this.#joined === undefined ? part : this.#joined.concat(part);
    Object.assign(this.#names, namesIn(generationInfo), namesIn(chunk.response_metadata));
  }

  /** The stream so far as one message, named as the provider last named it; undefined before its first chunk. */
  message(): AIMessageChunk | undefined {
    return this.#joined === undefined ? undefined : named(this.#joined, this.#names);
  }

  /** The tier and model as the provider last named them in this stream. */
  names(): Readonly<Names> {
    return { ...this.#names };
  }
}

/**
 * `message` — LangChain's own join of a stream (handleLLMEnd's), whose names are concatenated —
 * named as `meter` saw the provider last name them, else as `generationInfo` names them: LangChain
 * joins a stream's generation info by spreading each chunk's over the last, so there the last
 * named wins even when the model gave the handler no chunks to meter.
 */
export function lastNamed(
  message: BaseMessage | undefined,
  generationInfo: unknown,
  meter: StreamMeter | undefined,
): BaseMessage | undefined {
  return message === undefined
    ? undefined
    : named(message, { ...namesIn(generationInfo), ...meter?.names() });
}

/**
 * Output tokens of an Anthropic stream seen through LangChain: message_start's chunk carries a
 * provisional count and message_delta's the cumulative total, which concatenating chunks would
 * add together. Feed it every chunk; `total` is the last cumulative count, when one came.
 */
export class AnthropicStreamOutput {
  #anthropic = false;
  #total: number | undefined;

  observe(chunk: unknown): void {
    const fields = chunk as {
      usage_metadata?: { input_tokens?: number; output_tokens?: number };
      response_metadata?: { model_provider?: unknown };
    };
    if (fields.response_metadata?.model_provider === "anthropic") this.#anthropic = true;
    const usage = fields.usage_metadata;
    // message_delta's chunk: no input (LangChain sets 0), the running output total.
    if (this.#anthropic && usage?.input_tokens === 0 && typeof usage.output_tokens === "number")
      this.#total = usage.output_tokens;
  }

  get total(): number | undefined {
    return this.#total;
  }
}

function namesIn(fields: unknown): Names {
  const names: Names = {};
  if (typeof fields !== "object" || fields === null) return names;
  for (const key of NAMES) {
    const value = (fields as Record<string, unknown>)[key];
    if (typeof value === "string" && value !== "") names[key] = value;
  }
  return names;
}

/** A copy of what settling reads of `message`, its metadata named by `names`; `message` itself when there are none. */
function named<Message extends BaseMessage>(message: Message, names: Names): Message | AIMessageChunk {
  if (Object.keys(names).length === 0) return message;
  const copy = meteredPart(message);
  copy.response_metadata = { ...copy.response_metadata, ...names };
  return copy;
}

/**
 * What settling a stream reads of one chunk (its text, usage and metadata), copied: the output is
 * measured as the provider sent it, and restore rewrites the chunk's texts in place.
 */
function meteredPart(chunk: BaseMessage): AIMessageChunk {
  const usage = (chunk as { usage_metadata?: AIMessageChunk["usage_metadata"] }).usage_metadata;
  return new AIMessageChunk({
    content: structuredClone(chunk.content),
    response_metadata: chunk.response_metadata,
    ...(usage === undefined ? {} : { usage_metadata: usage }),
  });
}
