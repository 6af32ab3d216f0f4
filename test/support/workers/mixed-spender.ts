/**
 * A child process spending from a shared ledger (SQLite file or PostgreSQL wallet) with a mix of
 * behaviours: live posts (some above the hold), voids, and slow calls whose hold expires before
 * they settle late. Prints {"type":"ready"}, waits for a stdin line, then {"type":"summary",...}.
 */
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { BudgetExceededError } from "../../../src/core/errors.ts";
import type { BudgetAccount, Ledger } from "../../../src/core/ledger/ledger.ts";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";
import { SqliteLedger } from "../../../src/core/ledger/sqlite-ledger.ts";

export interface MixedOptions {
  sqlitePath?: string;
  url?: string;
  schema?: string;
  walletId?: string;
  actor: string;
  calls: number;
  accounts: BudgetAccount[];
  seed: number;
  /** Hold timeout of slow calls (seconds, may be fractional); others use 60. */
  slowTimeoutSeconds: number;
  slowSleepMs: number;
}

const options = JSON.parse(process.argv[2] ?? "") as MixedOptions;
const lifetime = setTimeout(() => process.exit(3), 25_000);

const ledger: Ledger =
  options.sqlitePath !== undefined
    ? new SqliteLedger({ path: options.sqlitePath })
    : new PostgresLedger({
        url: options.url ?? "",
        schema: options.schema ?? "",
        walletId: options.walletId ?? "default",
      });
await ledger.balance();
process.stdout.write(`${JSON.stringify({ type: "ready" })}\n`);
await once(process.stdin, "data");
process.stdin.destroy();

let seed = options.seed;
const random = (): number => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};

const summary = {
  type: "summary",
  actor: options.actor,
  refusals: 0,
  posts: 0,
  voids: 0,
  late: 0,
  postedUsertokens: 0,
  shortfallUsertokens: 0,
  errors: [] as string[],
};

async function call(index: number): Promise<void> {
  const id = `${options.actor}-${index}`;
  const amount = 1 + Math.floor(random() * 50);
  const kind = random();
  const slow = kind < 0.3;
  const accounts = options.accounts.filter(() => random() < 0.7);
  await sleep(Math.floor(random() * 30));
  try {
    await ledger.reserve(id, amount, slow ? options.slowTimeoutSeconds : 60, accounts);
  } catch (error) {
    if (error instanceof BudgetExceededError) summary.refusals++;
    else summary.errors.push(`reserve ${id}: ${String(error)}`);
    return;
  }
  try {
    if (slow) await sleep(options.slowSleepMs + Math.floor(random() * 50));
    else await sleep(Math.floor(random() * 20));
    if (!slow && kind < 0.45) {
      await ledger.void(id);
      summary.voids++;
      return;
    }
    const cost = Math.floor(amount * (0.2 + random() * 1.6));
    const result = await ledger.post(id, cost);
    // idempotent retry of the same post
    const again = await ledger.post(id, cost);
    if (again.postedUsertokens !== result.postedUsertokens)
      summary.errors.push(`retry of ${id} posted differently`);
    summary.posts++;
    if (result.lateSettle) summary.late++;
    summary.postedUsertokens += result.postedUsertokens;
    summary.shortfallUsertokens += result.shortfallUsertokens;
  } catch (error) {
    summary.errors.push(`settle ${id}: ${String(error)}`);
  }
}

await Promise.all(Array.from({ length: options.calls }, (_, index) => call(index)));
await ledger.close();
process.stdout.write(`${JSON.stringify(summary)}\n`);
clearTimeout(lifetime);
