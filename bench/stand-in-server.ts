/**
 * Child-process entry: runs the OpenAI stand-in on its own core so the benchmark's client process
 * measures only its own work. Prints `{"url": …}` on one stdout line once listening, and exits when
 * its parent closes stdin (the parent exited, even by a crash) or sends SIGTERM/SIGINT.
 */
import { startOpenAIStandIn } from "../test/support/openai-stand-in.ts";

const server = await startOpenAIStandIn({}, { record: false, stampTimes: true });
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.close().catch(() => {});
  process.exit(0);
}
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
