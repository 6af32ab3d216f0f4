/**
 * A child process that spends from a shared ledger — a PostgreSQL wallet, or a SQLite file when
 * `sqlitePath` is set: `calls` reserve-then-post calls, all started at once, standing in for one
 * host of a fleet (or one process on a machine).
 *
 *   node --experimental-strip-types ledger-spender.ts '<SpenderOptions as JSON>'
 *
 * Connects, prints `{"type":"ready"}`, waits for a line on stdin so every process starts together,
 * then prints one `{"type":"summary",…}` line and exits. Some posts ask for more than their hold, to
 * check that the cap holds under contention. It exits on its own after LIFETIME_MS_MAX so a parent
 * that died cannot leak it. Import only its types: importing the module runs it.
 */
import { once } from "node:events";
import { BudgetExceededError } from "../../../src/core/errors.ts";
import type { Ledger } from "../../../src/core/ledger/ledger.ts";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";
import { SqliteLedger } from "../../../src/core/ledger/sqlite-ledger.ts";

export interface SpenderOptions {
  url: string;
  schema: string;
  walletId: string;
  /** Spend from this SQLite ledger file instead of PostgreSQL. */
  sqlitePath?: string;
  actor: string;
  calls: number;
  holdUsertokens: number;
  /** Added to the cost of every fifth call, which must come back as a shortfall. */
  overrunUsertokens: number;
}

export interface SpenderSummary {
  type: "summary";
  actor: string;
  successes: number;
  refusals: number;
  postedUsertokens: number;
  shortfallUsertokens: number;
  /** Anything other than a BudgetExceededError from reserve: a failure of the test. */
  errors: string[];
}

const LIFETIME_MS_MAX = 20_000;

const options = JSON.parse(process.argv[2] ?? "") as SpenderOptions;
const lifetime = setTimeout(() => process.exit(3), LIFETIME_MS_MAX);

const ledger: Ledger =
  options.sqlitePath === undefined
    ? new PostgresLedger({ url: options.url, schema: options.schema, walletId: options.walletId })
    : new SqliteLedger({ path: options.sqlitePath });
await ledger.balance();
process.stdout.write(`${JSON.stringify({ type: "ready" })}\n`);
await once(process.stdin, "data");
process.stdin.destroy();

const summary: SpenderSummary = {
  type: "summary",
  actor: options.actor,
  successes: 0,
  refusals: 0,
  postedUsertokens: 0,
  shortfallUsertokens: 0,
  errors: [],
};

async function spend(index: number): Promise<void> {
  const holdId = `${options.actor}-${index}`;
  try {
    await ledger.reserve(holdId, options.holdUsertokens, 60);
  } catch (error) {
    if (error instanceof BudgetExceededError) summary.refusals += 1;
    else summary.errors.push(`reserve ${holdId}: ${String(error)}`);
    return;
  }
  const cost = options.holdUsertokens + (index % 5 === 0 ? options.overrunUsertokens : 0);
  try {
    const result = await ledger.post(holdId, cost);
    summary.successes += 1;
    summary.postedUsertokens += result.postedUsertokens;
    summary.shortfallUsertokens += result.shortfallUsertokens;
  } catch (error) {
    summary.errors.push(`post ${holdId}: ${String(error)}`);
  }
}

await Promise.all(Array.from({ length: options.calls }, (_, index) => spend(index)));
await ledger.close();
process.stdout.write(`${JSON.stringify(summary)}\n`);
clearTimeout(lifetime);
