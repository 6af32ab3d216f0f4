import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { receiptOf } from "../../src/adapters/receipt-trail.ts";
import { trust } from "../../src/adapters/trust.ts";
import { PiiBlockedError } from "../../src/core/guards/guard-errors.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { type OpenAIStandIn, startOpenAIStandIn } from "../support/openai-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * README "PII, secrets and prompt injection": each value of a tool call or a JSON tool result is
 * read after its key, as the JSON would read in a message; a key that is not a label is read as a
 * value; a Responses stored prompt's variables are conversation text; a URL's password is a secret
 * whole, whatever sub-delimiters it holds.
 */

let openai: OpenAIStandIn;
let anthropic: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  [openai, anthropic] = await Promise.all([startOpenAIStandIn(), startAnthropicStandIn()]);
});
afterAll(async () => {
  await Promise.all([openai.close(), anthropic.close()]);
});
afterEach(async () => {
  openai.setBehaviour({});
  anthropic.setBehaviour({});
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function anthropicClient(pii: "block" | "redact") {
  const vault = makeTempVault({ budget: 1_000_000 });
  const sdk = new Anthropic({ apiKey: "t", baseURL: anthropic.url, maxRetries: 0 });
  const client = await trust(sdk, { vaultBase: vault.base, shape: "native", config: { pii } });
  cleanups.push(async () => {
    await client.destroy();
    vault.cleanup();
  });
  return client;
}

async function openaiClient(pii: "block" | "redact") {
  const vault = makeTempVault({ budget: 1_000_000 });
  const sdk = new OpenAI({ apiKey: "t", baseURL: `${openai.url}/v1`, maxRetries: 0 });
  const client = await trust(sdk, { vaultBase: vault.base, shape: "native", config: { pii } });
  cleanups.push(async () => {
    await client.destroy();
    vault.cleanup();
  });
  return client;
}

/** A password of letters and symbols: caught as `password: "Summer!Sunset#"` in a message. */
const PASSWORD = "Summer!Sunset#";

function withToolUse(input: Record<string, unknown>) {
  return {
    model: "claude-sonnet-4-5",
    max_tokens: 100,
    messages: [
      { role: "user" as const, content: "Log me in" },
      {
        role: "assistant" as const,
        content: [{ type: "tool_use" as const, id: "tu_1", name: "login", input }],
      },
      {
        role: "user" as const,
        content: [{ type: "tool_result" as const, tool_use_id: "tu_1", content: "ok" }],
      },
    ],
  };
}

describe("a password in tool data is found as it is in a message", () => {
  it('control: in a message, `password: "Summer!Sunset#"` is blocked', async () => {
    const client = await anthropicClient("block");
    await expect(
      client.messages.create({
        model: "claude-sonnet-4-5",
        max_tokens: 100,
        messages: [{ role: "user", content: `my password: "${PASSWORD}"` }],
      }),
    ).rejects.toBeInstanceOf(PiiBlockedError);
  });

  it("pii: block refuses an Anthropic tool_use whose input has { password: 'Summer!Sunset#' }", async () => {
    const client = await anthropicClient("block");
    await expect(client.messages.create(withToolUse({ password: PASSWORD }))).rejects.toBeInstanceOf(
      PiiBlockedError,
    );
  });

  it("pii: redact does not send that password in clear", async () => {
    const client = await anthropicClient("redact");
    await client.messages.create(withToolUse({ password: PASSWORD }));
    expect(JSON.stringify(anthropic.requests.at(-1)?.body)).not.toContain(PASSWORD);
  });
});

describe("OpenAI Responses: a stored prompt's variables", () => {
  const EMAIL = "jane.doe@example.com";

  it("control: a variable given as an input_text part is redacted", async () => {
    const client = await openaiClient("redact");
    await client.responses.create({
      model: "gpt-4o-mini",
      input: "Draft the reply",
      prompt: { id: "pmpt_1", variables: { customer: { type: "input_text", text: EMAIL } } },
    });
    expect(JSON.stringify(openai.requests.at(-1)?.body)).not.toContain(EMAIL);
  });

  it("a variable given as a plain string is redacted too, and counted on the receipt", async () => {
    const client = await openaiClient("redact");
    const response = await client.responses.create({
      model: "gpt-4o-mini",
      input: "Draft the reply",
      prompt: { id: "pmpt_1", variables: { customer: EMAIL } },
    });
    const receipt = await receiptOf(response);
    expect(receipt.warnings.join(" ")).toMatch(/email/i);
    expect(JSON.stringify(openai.requests.at(-1)?.body)).not.toContain(EMAIL);
  });
});

describe("personal data used as an object key in tool data", () => {
  const EMAIL = "jane.doe@example.com";

  it("pii: redact does not send an email that keys a tool call's arguments in clear", async () => {
    const client = await openaiClient("redact");
    await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [
        { role: "user", content: "Grant the roles" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: "call_1",
              type: "function",
              function: { name: "set_roles", arguments: JSON.stringify({ roles: { [EMAIL]: "admin" } }) },
            },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "done" },
      ],
    });
    const body = openai.requests.at(-1)?.body as {
      messages: Array<{ tool_calls?: Array<{ function: { arguments: string } }> }>;
    };
    expect(JSON.stringify(body)).not.toContain(EMAIL);
    const sentArguments = body.messages[1]?.tool_calls?.[0]?.function.arguments ?? "";
    expect(JSON.parse(sentArguments)).toEqual({ roles: { "[EMAIL_1]": "admin" } });
  });
});

describe("a connection URL whose password holds a sub-delimiter ( ; , ( ) & = )", () => {
  const URL = "postgres://app:S3cret;Key9@db.internal.example.com:5432/app";

  it("pii: redact replaces the whole password, not an 'email' made of its tail and the host", async () => {
    const client = await openaiClient("redact");
    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: `Why does DATABASE_URL=${URL} fail?` }],
    });
    const sent = JSON.stringify(openai.requests.at(-1)?.body);
    const receipt = await receiptOf(completion);
    expect(sent).not.toContain("S3cret");
    expect(receipt.warnings.join(" ")).toMatch(/secret/);
  });
});
