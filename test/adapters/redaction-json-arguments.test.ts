import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trust } from "../../src/adapters/trust.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * OpenAI tool-call `arguments` are a JSON document in a string. Redacting values inside it, and
 * restoring them into the model's tool calls (whole or streamed), keeps it parseable.
 */

let server: OpenAIStandIn;
const cleanups: Array<() => unknown> = [];
beforeAll(async () => {
  server = await startOpenAIStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function client(pii: unknown) {
  const vault = makeTempVault({ budget: 100_000, pii: pii as "redact" });
  cleanups.push(vault.cleanup);
  const governed = await trust(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test", maxRetries: 0 }), {
    vaultBase: vault.base,
  });
  cleanups.push(() => governed.destroy());
  return governed;
}

describe("pii: redact — tool-call arguments stay valid JSON", () => {
  it("a quoted libpq connection string in a shell command: the redacted arguments still parse", async () => {
    const openai = await client({ mode: "redact", restore: false });
    const args = JSON.stringify({
      command: 'psql "host=db.internal user=app password=Pa55word" -c "select 1"',
    });
    await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [
        { role: "user", content: "How many rows are in the users table?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "shell", arguments: args } }],
        },
        { role: "tool", tool_call_id: "call_1", content: "1" },
      ],
    });
    const body = server.requests.at(-1)?.body as {
      messages: Array<{ tool_calls?: Array<{ function: { arguments: string } }> }>;
    };
    const sentArgs = body.messages[1]?.tool_calls?.[0]?.function.arguments ?? "";
    expect(sentArgs).not.toContain("Pa55word");
    expect(() => JSON.parse(sentArgs)).not.toThrow();
  });
});

describe("pii: { mode: redact, restore: true } — restored tool-call arguments stay valid JSON", () => {
  it("a private key the model passes to a tool: the caller can JSON.parse the restored arguments", async () => {
    const key = [
      "-----BEGIN PRIVATE KEY-----",
      "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
      "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
      "-----END PRIVATE KEY-----",
    ].join("\n");
    const openai = await client({ mode: "redact", restore: true });
    server.setBehaviour({
      toolCall: { name: "store_secret", arguments: '{"name":"deploy","value":"[PRIVATE_KEY_1]"}' },
    });
    const { response: completion } = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: `Store this deploy key in the vault:\n${key}` }],
      tools: [
        {
          type: "function",
          function: {
            name: "store_secret",
            parameters: {
              type: "object",
              properties: { name: { type: "string" }, value: { type: "string" } },
            },
          },
        },
      ],
    });
    // The provider got the placeholder…
    expect(JSON.stringify(server.requests.at(-1)?.body)).not.toContain("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC");
    const call = completion.choices[0]?.message.tool_calls?.[0];
    const args = call?.type === "function" ? call.function.arguments : "";
    // …and the caller gets the key back in a tool call it can parse.
    expect(() => JSON.parse(args)).not.toThrow();
    expect(JSON.parse(args).value).toBe(key);
  });
});

describe("pii: { mode: redact, restore: true } — streamed tool-call arguments", () => {
  it("a private key the model passes to a tool in a stream: the joined argument deltas parse to the key", async () => {
    const key = [
      "-----BEGIN PRIVATE KEY-----",
      "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
      "-----END PRIVATE KEY-----",
    ].join("\n");
    const openai = await client({ mode: "redact", restore: true });
    server.setBehaviour({
      toolCall: { name: "store_secret", arguments: '{"name":"deploy","value":"[PRIVATE_KEY_1]"}' },
    });
    const { response: stream } = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      stream: true,
      messages: [{ role: "user", content: `Store this deploy key in the vault:\n${key}` }],
    });
    let args = "";
    for await (const chunk of stream)
      args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? "";
    expect(JSON.parse(args).value).toBe(key);
  });
});
