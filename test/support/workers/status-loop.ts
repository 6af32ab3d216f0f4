/**
 * Runs `usertrust status` (the real CLI code, in this process) on a vault again and again for
 * `runMs`, as a dashboard or a monitoring script polling the budget would. Each run opens the
 * vault's ledger.db and closes it. Prints `{"type":"ready"}` after the first run and
 * `{"type":"done","runs":N,"failures":N}` at the end.
 */
import { runCli } from "../../../src/cli/run-cli.ts";

const { vaultBase, runMs } = JSON.parse(process.argv[2] as string) as { vaultBase: string; runMs: number };
const quiet = { write: () => undefined };
const end = Date.now() + runMs;
let runs = 0;
let failures = 0;
while (Date.now() < end) {
  const code = await runCli(["status", "--vault-base", vaultBase], { out: quiet, err: quiet });
  if (code !== 0) failures++;
  runs++;
  if (runs === 1) console.log(JSON.stringify({ type: "ready" }));
}
console.log(JSON.stringify({ type: "done", runs, failures }));
