import { describe, expect, it } from "vitest";
import {
  conversationTexts,
  copyWithTexts,
  definitionTexts,
  mapTextsInPlace,
} from "../../../src/core/surface/text-fields.ts";

const upper = (text: string) => text.toUpperCase();

describe("conversation text in provider shapes", () => {
  it("maps the texts of an OpenAI chat request in a copy, leaving ids, roles, types, models and images alone", () => {
    const body = {
      model: "gpt-4o",
      messages: [
        { role: "system", content: "be brief" },
        {
          role: "user",
          content: [
            { type: "text", text: "hello" },
            { type: "image_url", image_url: { url: "data:image/png;base64,abc" } },
          ],
        },
        {
          role: "assistant",
          tool_calls: [{ id: "call_1", function: { name: "f", arguments: '{"q":"x"}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: "result" },
      ],
    };
    const before = structuredClone(body);
    const copy = copyWithTexts(body, upper) as typeof body;
    expect(body).toEqual(before);
    expect(copy.model).toBe("gpt-4o");
    expect(copy.messages[0]).toEqual({ role: "system", content: "BE BRIEF" });
    expect(copy.messages[1]?.content).toEqual([
      { type: "text", text: "HELLO" },
      { type: "image_url", image_url: { url: "data:image/png;base64,abc" } },
    ]);
    // Arguments are JSON: their values are mapped, their keys and syntax kept.
    expect(JSON.stringify(copy.messages[2])).toContain('"arguments":"{\\"q\\":\\"X\\"}"');
    expect(copy.messages[3]?.content).toBe("RESULT");
  });

  it("maps Anthropic system blocks and tool inputs, never base64 sources", () => {
    const body = {
      system: [{ type: "text", text: "sys" }],
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { type: "base64", media_type: "image/png", data: "aGVsbG8=" } },
            { type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "out" }] },
          ],
        },
      ],
    };
    const copy = copyWithTexts(body, upper) as { system: unknown; messages: Array<{ content: unknown[] }> };
    expect(copy.system).toEqual([{ type: "text", text: "SYS" }]);
    expect(copy.messages[0]?.content[0]).toMatchObject({ source: { data: "aGVsbG8=" } });
    expect(copy.messages[0]?.content[1]).toMatchObject({ tool_use_id: "t1", content: [{ text: "OUT" }] });
  });

  it("maps Gemini contents and parts but not inline data", () => {
    const params = {
      model: "gemini-2.5-flash",
      contents: [
        { role: "user", parts: [{ text: "hi" }, { inlineData: { mimeType: "image/png", data: "abc" } }] },
      ],
      config: { systemInstruction: "sys" },
    };
    const copy = copyWithTexts(params, upper) as typeof params;
    expect(copy.contents[0]?.parts).toEqual([
      { text: "HI" },
      { inlineData: { mimeType: "image/png", data: "abc" } },
    ]);
    expect(copy.config.systemInstruction).toBe("SYS");
    expect(copyWithTexts({ model: "m", contents: "plain" }, upper)).toEqual({
      model: "m",
      contents: "PLAIN",
    });
  });

  it("maps response texts in place, keeping the object and its class", () => {
    class Completion {
      choices = [{ message: { role: "assistant", content: "x" } }];
      id = "chatcmpl-1";
    }
    const response = new Completion();
    const same = mapTextsInPlace(response, upper);
    expect(same).toBe(response);
    expect(response).toBeInstanceOf(Completion);
    expect(response.choices[0]?.message.content).toBe("X");
    expect(response.id).toBe("chatcmpl-1");
  });

  it("maps stream deltas in every provider's chunk shape", () => {
    const chat = { choices: [{ index: 0, delta: { content: "a" } }] };
    const responses = { type: "response.output_text.delta", delta: "b" };
    const anthropic = { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "c" } };
    for (const chunk of [chat, responses, anthropic]) mapTextsInPlace(chunk, upper);
    expect(chat.choices[0]?.delta.content).toBe("A");
    expect(responses.delta).toBe("B");
    expect(anthropic.delta.text).toBe("C");
  });
});

describe("tool data and definitions", () => {
  it("maps every value of an AI SDK tool-call input and JSON tool result, whatever its key, but not the ids", () => {
    const prompt = [
      {
        role: "assistant",
        content: [
          {
            type: "tool-call",
            toolCallId: "c1",
            toolName: "send",
            input: { name: "n", url: "u", data: ["d"] },
          },
        ],
      },
      {
        role: "tool",
        content: [
          {
            type: "tool-result",
            toolCallId: "c1",
            toolName: "send",
            output: { type: "json", value: { data: { email: "e", id: 7 } } },
          },
        ],
      },
    ];
    const copy = copyWithTexts(prompt, upper);
    expect(copy).toEqual([
      {
        role: "assistant",
        content: [
          {
            type: "tool-call",
            toolCallId: "c1",
            toolName: "send",
            input: { name: "N", url: "U", data: ["D"] },
          },
        ],
      },
      {
        role: "tool",
        content: [
          {
            type: "tool-result",
            toolCallId: "c1",
            toolName: "send",
            output: { type: "json", value: { data: { email: "E", id: 7 } } },
          },
        ],
      },
    ]);
  });

  it("reads each tool-data value after its key, and numbers as their digits", () => {
    const body = {
      messages: [
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "t", name: "pay", input: { card: 42, to: "x" } }],
        },
        {
          role: "assistant",
          tool_calls: [{ function: { name: "f", arguments: '{"password":"p1","list":["a"]}' } }],
        },
      ],
    };
    expect(conversationTexts(body)).toEqual(["card: 42", "to: x", "password: p1", "a"]);
  });

  it("leaves tool definitions and output schemas alone; definitionTexts lists their strings", () => {
    const body = {
      model: "gpt-4o",
      input: "hi",
      text: { format: { type: "json_schema", name: "answer", schema: { description: "the answer" } } },
      tools: [
        {
          type: "function",
          name: "f",
          description: "mail ops@acme.com",
          parameters: { properties: { text: { description: "t" } } },
        },
      ],
      response_format: { type: "json_schema", json_schema: { description: "d" } },
    };
    const copy = copyWithTexts(body, upper);
    expect(copy).toEqual({ ...body, input: "HI" });
    expect(definitionTexts([body.tools, body.text])).toEqual([
      "function",
      "f",
      "mail ops@acme.com",
      "t",
      "json_schema",
      "answer",
      "the answer",
    ]);
  });
});
