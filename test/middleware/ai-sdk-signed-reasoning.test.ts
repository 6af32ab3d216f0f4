import { createAnthropic } from "@ai-sdk/anthropic";
import { generateText } from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/core/create-engine.ts";
import { governModel } from "../../src/middleware/ai-sdk/index.ts";
import { type AnthropicStandIn, startAnthropicStandIn } from "../support/anthropic-stand-in.ts";
import { makeTempVault } from "../support/temp-vault.ts";

/*
 * An Anthropic thinking block is signed: the API refuses a request whose `thinking` text is not
 * byte for byte what it signed. The AI SDK carries the block as a `reasoning` part with
 * `providerOptions.anthropic.signature`; like trust() with Anthropic `thinking` blocks, redaction
 * leaves it alone.
 */

const EMAIL = "jane.doe@example.com";
const THINKING = `The user wants a reminder sent to ${EMAIL}; I should call send_mail.`;
let server: AnthropicStandIn;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  server = await startAnthropicStandIn();
});
afterAll(() => server.close());
afterEach(async () => {
  server.setBehaviour({});
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("usertrust/ai-sdk, pii: redact, Anthropic extended thinking", () => {
  it("a signed reasoning part is sent back exactly as the model wrote it", async () => {
    const vault = makeTempVault({ budget: 1_000_000, pii: { mode: "redact", restore: false } });
    const engine = await createEngine({ vaultBase: vault.base });
    cleanups.push(vault.cleanup);
    cleanups.push(() => engine.close());
    const anthropic = createAnthropic({ baseURL: `${server.url}/v1`, apiKey: "test" });
    await generateText({
      model: governModel(anthropic("claude-sonnet-4-5"), engine),
      maxOutputTokens: 1_000,
      messages: [
        { role: "user", content: `Remind ${EMAIL} about the meeting` },
        {
          role: "assistant",
          content: [
            {
              type: "reasoning",
              text: THINKING,
              providerOptions: {
                anthropic: { signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds" },
              },
            },
            { type: "tool-call", toolCallId: "t1", toolName: "send_mail", input: { to: EMAIL } },
          ],
        },
        {
          role: "tool",
          content: [
            {
              type: "tool-result",
              toolCallId: "t1",
              toolName: "send_mail",
              output: { type: "text", value: "sent" },
            },
          ],
        },
      ],
    });
    const body = server.requests.at(-1)?.body as {
      messages: Array<{ content: Array<{ type: string; thinking?: string; signature?: string }> }>;
    };
    const thinking = body.messages
      .flatMap((message) => message.content)
      .find((block) => block.type === "thinking");
    expect(thinking?.signature).toBeDefined();
    // The signature covers this text: any change makes Anthropic refuse the whole request.
    expect(thinking?.thinking).toBe(THINKING);
  });
});
