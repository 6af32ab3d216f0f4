/**
 * A process whose PostgreSQL ledger step the test ends by dropping its connection. It prints
 * `{"type":"ready"}`, waits for a line on stdin, then runs one step and prints what it ended with:
 * `{"type":"result","outcome":"ok"|"error","error":name}`. It catches every error of the step and
 * must never die of one.
 * - `post`: reserves a hold before "ready", then posts it with a withinCommit callback (as the engine does);
 * - `open`: touches nothing before "ready", then reads the balance, which creates the schema first.
 */
import { once } from "node:events";
import { createInterface } from "node:readline";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";

const { url, schema, step } = JSON.parse(process.argv[2] as string) as {
  url: string;
  schema: string;
  step: "post" | "open";
};
const ledger = new PostgresLedger({ url, schema, walletId: "drop", budgetUsertokens: 10_000 });
if (step === "post") await ledger.reserve("call-1", 100, 600);
console.log(JSON.stringify({ type: "ready" }));
const lines = createInterface({ input: process.stdin });
await once(lines, "line");
try {
  if (step === "post") await ledger.post("call-1", 60, () => undefined);
  else await ledger.balance();
  console.log(JSON.stringify({ type: "result", outcome: "ok" }));
} catch (error) {
  console.log(JSON.stringify({ type: "result", outcome: "error", error: (error as Error).name }));
}
lines.close();
await ledger.close().catch(() => undefined);
