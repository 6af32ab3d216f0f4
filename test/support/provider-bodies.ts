/**
 * Whole answers the stand-ins reply with, in each provider's wire format, for tests of what a
 * reply's usage and service tier cost. `tier: undefined` leaves `service_tier` out.
 */
export interface BodyUsage {
  input: number;
  output: number;
}

export function chatCompletionBody(options: { model: string; tier?: string | null; usage: BodyUsage }) {
  const { model, tier, usage } = options;
  return {
    id: "chatcmpl_1",
    object: "chat.completion",
    created: 1,
    model,
    ...(tier === undefined ? {} : { service_tier: tier }),
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: "hello", refusal: null },
        finish_reason: "stop",
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: usage.input,
      completion_tokens: usage.output,
      total_tokens: usage.input + usage.output,
    },
  };
}

export function responseBody(options: {
  model: string;
  tier?: string | null;
  usage: BodyUsage;
  status?: string;
}) {
  const { model, tier, usage, status = "completed" } = options;
  return {
    id: "resp_1",
    object: "response",
    created_at: 1,
    status,
    model,
    ...(tier === undefined ? {} : { service_tier: tier }),
    output: [
      {
        type: "message",
        id: "msg_1",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: "hello", annotations: [] }],
      },
    ],
    usage: {
      input_tokens: usage.input,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: usage.output,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: usage.input + usage.output,
    },
  };
}

export function anthropicMessageBody(model: string, usage: Record<string, unknown> = {}) {
  return {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model,
    content: [{ type: "text", text: "hello" }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: {
      input_tokens: 10,
      output_tokens: 10,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      ...usage,
    },
  };
}
