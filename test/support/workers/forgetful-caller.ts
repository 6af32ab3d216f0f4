// Makes governed calls (plain, streamed, and one stream left unread) and never calls destroy():
// the process must still exit on its own once the work is done.
import OpenAI from "openai";
import { trust } from "../../../src/adapters/trust.ts";

const [baseURL, vaultBase] = process.argv.slice(2);
const client = await trust(new OpenAI({ baseURL, apiKey: "test", maxRetries: 0 }), {
  vaultBase: vaultBase ?? ".",
});
const messages = [{ role: "user" as const, content: "hi" }];
await client.chat.completions.create({ model: "gpt-4o-mini", messages });
const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
for await (const _ of stream) {
  // drain
}
await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
process.stdout.write("done\n");
