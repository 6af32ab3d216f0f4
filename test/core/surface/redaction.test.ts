import { describe, expect, it } from "vitest";
import { Redactor } from "../../../src/core/guards/redactor.ts";
import { redactCall } from "../../../src/core/surface/redaction.ts";

/*
 * OpenAI tool-call `arguments` (and Anthropic `partial_json`) are JSON documents in a string.
 * Redaction reads their values, not their source, and what goes back into them is escaped, so the
 * caller can always JSON.parse them.
 */

const KEY = [
  "-----BEGIN PRIVATE KEY-----",
  "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
  "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
  "-----END PRIVATE KEY-----",
].join("\n");

function chatWithToolCall(args: string) {
  return {
    model: "gpt-4o-mini",
    messages: [
      { role: "user", content: "Go on." },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "shell", arguments: args } }],
      },
      { role: "tool", tool_call_id: "call_1", content: "1" },
    ],
  };
}

function sentArguments(sent: unknown): string {
  const body = sent as ReturnType<typeof chatWithToolCall>;
  return body.messages[1]?.tool_calls?.[0]?.function.arguments ?? "";
}

describe("redactCall: JSON tool-call arguments", () => {
  it("redacts a value whose secret sits before an escaped quote, and the arguments still parse", () => {
    const args = JSON.stringify({ command: 'psql "host=db user=app password=Pa55word" -c "select 1"' });
    const { sent } = redactCall(chatWithToolCall(args), new Redactor(), false);
    expect(JSON.parse(sentArguments(sent))).toEqual({
      command: 'psql "host=db user=app password=[SECRET_1]" -c "select 1"',
    });
  });

  it("reads each value after its key, so `password` labels the value next to it", () => {
    const args = JSON.stringify({ username: "ops", password: "hunter2x9Q" });
    const redactor = new Redactor();
    const { sent } = redactCall(chatWithToolCall(args), redactor, false);
    expect(JSON.parse(sentArguments(sent))).toEqual({ username: "ops", password: "[SECRET_1]" });
    expect(redactor.counts()).toEqual({ secret: 1 });
  });

  it("leaves the source byte for byte when nothing is found, spacing and big numbers included", () => {
    const args = '{ "id": 12345678901234567890,\n  "q": "weather in Paris" }';
    const { sent } = redactCall(chatWithToolCall(args), new Redactor(), false);
    expect(sentArguments(sent)).toBe(args);
  });

  it("replaces a card number given as a JSON number by a placeholder string", () => {
    const args = '{"card": 4111111111111111, "amount": 12.5}';
    const { sent } = redactCall(chatWithToolCall(args), new Redactor(), false);
    expect(sentArguments(sent)).toBe('{"card": "[CREDIT_CARD_1]", "amount": 12.5}');
  });

  it("redacts arguments that are not valid JSON as plain text", () => {
    const { sent } = redactCall(chatWithToolCall('{"to": "jane@example.com"'), new Redactor(), false);
    expect(sentArguments(sent)).toBe('{"to": "[EMAIL_1]"');
  });
});

describe("redactCall with restore: values go back into JSON arguments escaped", () => {
  function redactedKey() {
    const redactor = new Redactor();
    const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: `Store this key:\n${KEY}` }] };
    const call = redactCall(body, redactor, true);
    expect(JSON.stringify(call.sent)).toContain("[PRIVATE_KEY_1]");
    return call;
  }

  it("restores a whole response's tool-call arguments into parseable JSON", () => {
    const call = redactedKey();
    const response = {
      choices: [
        {
          message: {
            role: "assistant",
            content: "Stored [PRIVATE_KEY_1].",
            tool_calls: [{ function: { name: "store", arguments: '{"value":"[PRIVATE_KEY_1]"}' } }],
          },
        },
      ],
    };
    call.restoreResponse?.(response);
    const message = response.choices[0]?.message;
    expect(JSON.parse(message?.tool_calls[0]?.function.arguments ?? "")).toEqual({ value: KEY });
    // Message text gets the value as it is.
    expect(message?.content).toBe(`Stored ${KEY}.`);
  });

  it("restores streamed argument pieces with a placeholder split across them (OpenAI chat)", () => {
    const restorer = redactedKey().chunkRestorer?.();
    const pieces = ['{"value":"[PRIV', "ATE_KEY_", '1]"}'];
    const chunks = pieces.map((piece) => ({
      choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: piece } }] } }],
    }));
    for (const chunk of chunks) restorer?.chunk(chunk);
    restorer?.finish();
    const args = chunks.map((chunk) => chunk.choices[0]?.delta.tool_calls[0]?.function.arguments).join("");
    expect(JSON.parse(args)).toEqual({ value: KEY });
  });

  it("restores Responses argument deltas and Anthropic partial_json the same way", () => {
    const restorer = redactedKey().chunkRestorer?.();
    const responses = {
      type: "response.function_call_arguments.delta",
      output_index: 0,
      delta: '{"value":"[PRIVATE_KEY_1]"}',
    };
    const anthropic = {
      type: "content_block_delta",
      index: 1,
      delta: { type: "input_json_delta", partial_json: '{"value":"[PRIVATE_KEY_1]"}' },
    };
    restorer?.chunk(responses);
    restorer?.chunk(anthropic);
    expect(JSON.parse(responses.delta)).toEqual({ value: KEY });
    expect(JSON.parse(anthropic.delta.partial_json)).toEqual({ value: KEY });
  });

  it("Redactor.restore escapes a value only inside JSON source", () => {
    const redactor = new Redactor();
    redactor.redact(KEY);
    expect(redactor.restore("[PRIVATE_KEY_1]")).toBe(KEY);
    expect(redactor.restore('"[PRIVATE_KEY_1]"', "json-string")).toBe(JSON.stringify(KEY));
  });
});
