import { describe, expect, it } from "vitest";
import { RECORD_SEPARATOR } from "../../../src/core/guards/text-scan.ts";
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
    // The texts of one piece of tool data are one text of records (see RECORD_SEPARATOR).
    expect(conversationTexts(body)).toEqual([
      ["card: 42", 'to: "x"'].join(RECORD_SEPARATOR),
      ['password: "p1"', "a"].join(RECORD_SEPARATOR),
    ]);
  });

  it("quotes a string value unless a space or a quote in it would end the quotes early", () => {
    const input = { password: "Summer!Sunset#", note: "two words", quoted: 'say "hi"', count: 3 };
    const body = { content: [{ type: "tool_use", id: "t", name: "f", input }] };
    expect(conversationTexts(body)).toEqual([
      ['password: "Summer!Sunset#"', "note: two words", 'quoted: say "hi"', "count: 3"].join(
        RECORD_SEPARATOR,
      ),
    ]);
  });

  it("maps each record of tool data back to its value, and each value alone when its label was changed", () => {
    const input = { password: "Summer!Sunset#", to: "x" };
    const body = { content: [{ type: "tool_use", id: "t", name: "f", input }] };
    const redacted = copyWithTexts(body, (text) =>
      text
        .split(RECORD_SEPARATOR)
        .map((record) => record.replace("Summer!Sunset#", "[SECRET_1]").replace(/^to/, "TO"))
        .join(RECORD_SEPARATOR),
    );
    // `to: "x"` came back as `TO: "x"`: its value is mapped alone, and stays "x".
    expect(redacted).toEqual({
      content: [{ type: "tool_use", id: "t", name: "f", input: { password: "[SECRET_1]", to: "x" } }],
    });
  });

  it("reads a key of tool data that is not a label (an address used as a key) as a value, keeping JSON valid", () => {
    const roles = { "jane.doe@example.com": "admin", editors: ["sam@example.org"] };
    const body = {
      messages: [
        { role: "assistant", content: [{ type: "tool_use", id: "t", name: "set_roles", input: { roles } }] },
        {
          role: "assistant",
          tool_calls: [{ id: "c", function: { name: "set_roles", arguments: JSON.stringify({ roles }) } }],
        },
      ],
    };
    expect(conversationTexts(body)).toEqual([
      ["jane.doe@example.com", "admin", 'editors: "sam@example.org"'].join(RECORD_SEPARATOR),
      ["jane.doe@example.com", "admin", "sam@example.org"].join(RECORD_SEPARATOR),
    ]);
    const copy = copyWithTexts(body, (text) => text.replaceAll("jane.doe@example.com", "[EMAIL_1]")) as {
      messages: [{ content: [{ input: unknown }] }, { tool_calls: [{ function: { arguments: string } }] }];
    };
    const mapped = { roles: { "[EMAIL_1]": "admin", editors: ["sam@example.org"] } };
    expect(copy.messages[0].content[0].input).toEqual(mapped);
    expect(JSON.parse(copy.messages[1].tool_calls[0].function.arguments)).toEqual(mapped);
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

describe("what a copy keeps the caller's own", () => {
  it("keeps objects that are not plain data (an AbortSignal, bytes, a class instance) by reference", () => {
    class Settings {
      text = "not read: a class instance is not conversation";
    }
    const signal = new AbortController().signal;
    const bytes = new Uint8Array([1, 2, 3]);
    const settings = new Settings();
    const params = {
      contents: "Write to jane",
      config: { abortSignal: signal, settings },
      files: [{ type: "file", data: bytes }],
    };
    const copy = copyWithTexts(params, upper) as typeof params;
    expect(copy.contents).toBe("WRITE TO JANE");
    expect(copy.config.abortSignal).toBe(signal);
    expect(copy.config.settings).toBe(settings);
    expect(copy.files[0]?.data).toBe(bytes);
  });

  it("copies only what holds a changed text: other subtrees, and an unchanged request, are the caller's", () => {
    const body = {
      model: "gpt-4o",
      metadata: { team: "a" },
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi" },
      ],
    };
    const copy = copyWithTexts(body, (text) => (text === "hi" ? "HI" : text)) as typeof body;
    expect(copy).not.toBe(body);
    expect(copy.metadata).toBe(body.metadata);
    expect(copy.messages[0]).toBe(body.messages[0]);
    expect(copy.messages[1]).toEqual({ role: "user", content: "HI" });
    expect(copyWithTexts(body, (text) => text)).toBe(body);
  });

  it("keeps a `__proto__` key of tool data a key", () => {
    const input = JSON.parse('{"__proto__": "x", "to": "y"}') as Record<string, unknown>;
    const mapX = (text: string) => text.replace("x", "X");
    const copy = copyWithTexts({ content: [{ type: "tool_use", id: "t", name: "f", input }] }, mapX) as {
      content: [{ input: Record<string, unknown> }];
    };
    expect(Object.getPrototypeOf(copy.content[0].input)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(copy.content[0].input, "__proto__")?.value).toBe("X");
  });
});

describe("AI SDK parts and Responses prompts", () => {
  it("leaves a signed reasoning part unread, and reads an unsigned one", () => {
    const prompt = [
      {
        role: "assistant",
        content: [
          { type: "reasoning", text: "signed", providerOptions: { anthropic: { signature: "EqQB" } } },
          { type: "reasoning", text: "unsigned", providerOptions: { openai: { itemId: "rs_1" } } },
          { type: "text", text: "answer" },
        ],
      },
    ];
    expect(conversationTexts(prompt)).toEqual(["unsigned", "answer"]);
  });

  it("reads an inline text file's text, but no other file data", () => {
    const prompt = [
      {
        role: "user",
        content: [
          { type: "file", mediaType: "text/plain", data: { type: "text", text: "the document" } },
          { type: "file", mediaType: "application/pdf", data: { type: "data", data: "JVBERi0=" } },
          { type: "file", mediaType: "text/plain", data: "aGVsbG8=" },
        ],
      },
    ];
    expect(conversationTexts(prompt)).toEqual(["the document"]);
  });

  it("reads a stored prompt's variables: a string after its name, an input part as a part", () => {
    const body = {
      model: "gpt-4o",
      prompt: {
        id: "pmpt_1",
        version: "2",
        variables: {
          customer: "jane.doe@example.com",
          name: "Jane",
          note: { type: "input_text", text: "call her" },
          logo: { type: "input_image", image_url: "https://example.com/logo.png" },
        },
      },
    };
    expect(conversationTexts(body)).toEqual(['customer: "jane.doe@example.com"', 'name: "Jane"', "call her"]);
    const copy = copyWithTexts(body, upper) as typeof body;
    expect(copy.prompt.variables).toEqual({
      customer: "JANE.DOE@EXAMPLE.COM",
      name: "JANE",
      note: { type: "input_text", text: "CALL HER" },
      logo: { type: "input_image", image_url: "https://example.com/logo.png" },
    });
    expect(copy.prompt.id).toBe("pmpt_1");
  });
});

describe("definitionTexts", () => {
  it("reads a tool instance as its name, description and schema, not the clients it holds", () => {
    class Pool {
      readonly self: Pool = this;
      readonly secret = "pool internals";
    }
    class Tool {
      name = "lookup";
      description = "Looks an order up.";
      schema = { type: "object", properties: { id: { description: "the id" } } };
      pool = new Pool();
    }
    expect(definitionTexts([[new Tool()]])).toEqual(["lookup", "Looks an order up.", "object", "the id"]);
  });

  it("reads every string of plain definitions once, through cycles, down to a bounded depth", () => {
    const definition: Record<string, unknown> = { name: "f", description: "d" };
    definition.self = definition;
    expect(definitionTexts([definition])).toEqual(["f", "d"]);
    let deep: unknown = "too deep";
    for (let level = 0; level < 1_000; level++) deep = { nested: deep };
    expect(() => definitionTexts([deep])).not.toThrow();
    expect(definitionTexts([deep])).toEqual([]);
  });

  it("reads a zod schema's descriptions, which zod keeps outside the schema object", async () => {
    const { z } = await import("zod");
    const schema = z.object({ id: z.string().describe("the order id") }).describe("an order");
    expect(definitionTexts([schema])).toEqual(expect.arrayContaining(["an order", "the order id"]));
  });
});
