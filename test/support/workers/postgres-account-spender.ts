/**
 * A child process that spends from its own PostgreSQL wallet and from one budget account every
 * process shares: `calls` reserve-then-settle calls, all started at once, standing in for one host
 * of a fleet under a scoped budget.
 *
 *   node --experimental-strip-types postgres-account-spender.ts '<AccountSpenderOptions as JSON>'
 *
 * Connects, prints `{"type":"ready"}`, waits for a line on stdin so every process starts together,
 * then prints one `{"type":"summary",…}` line and exits. Every `voidEvery`-th call voids its hold
 * (a provider that failed) and the others post more than they held, so both ways a hold ends run
 * under contention. It exits on its own after LIFETIME_MS_MAX so a parent that died cannot leak it.
 * Import only its types: importing the module runs it.
 */
import { once } from "node:events";
import { BudgetExceededError } from "../../../src/core/errors.ts";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";

export interface AccountSpenderOptions {
  url: string;
  schema: string;
  walletId: string;
  walletBudgetUsertokens: number;
  accountId: string;
  accountLimitUsertokens: number;
  actor: string;
  calls: number;
  holdUsertokens: number;
  /** Added to every post's cost, which must come back as a shortfall. */
  overrunUsertokens: number;
  voidEvery: number;
}

export interface AccountSpenderSummary {
  type: "summary";
  actor: string;
  posts: number;
  voids: number;
  /** Reserves refused by the shared account. */
  refusals: number;
  postedUsertokens: number;
  shortfallUsertokens: number;
  /** The highest posted + pending the account reported after any of this process's posts. */
  accountUsedMaxUsertokens: number;
  /** Anything but an account refusal from reserve, or any failure to settle: a failure of the test. */
  errors: string[];
}

const LIFETIME_MS_MAX = 20_000;

const options = JSON.parse(process.argv[2] ?? "") as AccountSpenderOptions;
const lifetime = setTimeout(() => process.exit(3), LIFETIME_MS_MAX);

const ledger = new PostgresLedger({
  url: options.url,
  schema: options.schema,
  walletId: options.walletId,
  budgetUsertokens: options.walletBudgetUsertokens,
});
const shared = [{ id: options.accountId, limitUsertokens: options.accountLimitUsertokens }];
await ledger.balance();
process.stdout.write(`${JSON.stringify({ type: "ready" })}\n`);
await once(process.stdin, "data");
process.stdin.destroy();

const summary: AccountSpenderSummary = {
  type: "summary",
  actor: options.actor,
  posts: 0,
  voids: 0,
  refusals: 0,
  postedUsertokens: 0,
  shortfallUsertokens: 0,
  accountUsedMaxUsertokens: 0,
  errors: [],
};

async function spend(index: number): Promise<void> {
  const holdId = `${options.actor}-${index}`;
  try {
    await ledger.reserve(holdId, options.holdUsertokens, 60, shared);
  } catch (error) {
    if (error instanceof BudgetExceededError && error.account === options.accountId) summary.refusals += 1;
    else summary.errors.push(`reserve ${holdId}: ${String(error)}`);
    return;
  }
  try {
    if (index % options.voidEvery === options.voidEvery - 1) {
      await ledger.void(holdId);
      summary.voids += 1;
      return;
    }
    const result = await ledger.post(holdId, options.holdUsertokens + options.overrunUsertokens);
    summary.posts += 1;
    summary.postedUsertokens += result.postedUsertokens;
    summary.shortfallUsertokens += result.shortfallUsertokens;
    const account = result.accounts[0]?.balance;
    if (account === undefined) throw new Error("the post reported no account");
    summary.accountUsedMaxUsertokens = Math.max(
      summary.accountUsedMaxUsertokens,
      account.postedUsertokens + account.pendingUsertokens,
    );
  } catch (error) {
    summary.errors.push(`settle ${holdId}: ${String(error)}`);
  }
}

await Promise.all(Array.from({ length: options.calls }, (_, index) => spend(index)));
await ledger.close();
process.stdout.write(`${JSON.stringify(summary)}\n`);
clearTimeout(lifetime);
