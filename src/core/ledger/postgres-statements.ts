/** The SQL the PostgreSQL ledger sends: calls of the functions its migrations create, and reads. */

/** A named statement is parsed once per connection; each pool serves one schema, so names need no schema. */
export interface Statement {
  name?: string;
  text: string;
}

/** Milliseconds since the epoch on the server; every host's steps share this one clock. */
const SERVER_NOW_MS = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/** The step's time: the injected clock's (tests), else the server's. */
function nowParameter(index: number): string {
  return `COALESCE($${index}::bigint, ${SERVER_NOW_MS})`;
}

/**
 * Whether the hold ($1, $2) existed when the statement began: the statement's snapshot does not see
 * the row its own reserve function inserts, so this tells a new hold from a retried id.
 */
function existedBefore(schema: string): string {
  return `EXISTS (SELECT 1 FROM ${schema}.holds AS h WHERE h.wallet_id = $1 AND h.id = $2) AS existed`;
}

export function statementsFor(schema: string) {
  const named = (name: string, text: string): Statement => ({ name: `usertrust_${name}`, text });
  return {
    reserve: named(
      "reserve",
      `SELECT r.granted, r.budget_ut, r.posted_ut, r.pending_ut, ${existedBefore(schema)}
       FROM (SELECT ${nowParameter(4)} AS now_ms) AS t,
         LATERAL ${schema}.reserve_hold($1, $2, $3, t.now_ms, t.now_ms + $5::bigint) AS r`,
    ),
    reserveOnAccounts: named(
      "reserve_on_accounts",
      `SELECT r.granted, r.budget_ut, r.posted_ut, r.pending_ut, r.refused_account, r.account_remaining_ut,
         ${existedBefore(schema)}
       FROM (SELECT ${nowParameter(4)} AS now_ms) AS t,
         LATERAL ${schema}.reserve_hold_on_accounts(
           $1, $2, $3, t.now_ms, t.now_ms + $5::bigint, $6::text[], $7::bigint[]) AS r`,
    ),
    post: named("post", `SELECT * FROM ${schema}.post_hold($1, $2, $3, ${nowParameter(4)})`),
    void: named(
      "void",
      `SELECT outcome, budget_ut, posted_ut, pending_ut FROM ${schema}.void_hold($1, $2, ${nowParameter(3)})`,
    ),
    balance: named(
      "balance",
      `SELECT w.budget AS budget_ut, w.posted AS posted_ut,
         (SELECT COALESCE(SUM(h.amount), 0) FROM ${schema}.holds AS h
           WHERE h.wallet_id = w.id AND h.state = 'pending' AND h.expires_at_ms > ${nowParameter(2)}) AS pending_ut
       FROM ${schema}.wallet AS w WHERE w.id = $1`,
    ),
    accountBalance: named(
      "account_balance",
      `SELECT a.spend_limit AS budget_ut, a.posted AS posted_ut,
         ${schema}.account_pending(a.id, ${nowParameter(2)}) AS pending_ut
       FROM ${schema}.accounts AS a WHERE a.id = $1`,
    ),
    hold: named(
      "hold",
      `SELECT state, expires_at_ms <= ${nowParameter(3)} AS expired FROM ${schema}.holds WHERE wallet_id = $1 AND id = $2`,
    ),
    /** Whether the schema holds a usertrust ledger; runs whatever the schema holds, or on none. */
    ledgerExists: named(
      "ledger_exists",
      `SELECT to_regclass('${schema}.usertrust_migrations') IS NOT NULL AS found`,
    ),
    walletExists: named(
      "wallet_exists",
      `SELECT EXISTS (SELECT 1 FROM ${schema}.wallet WHERE id = $1) AS found`,
    ),
    upsertBudget: named(
      "upsert_budget",
      `INSERT INTO ${schema}.wallet (id, budget) VALUES ($1, $2)
       ON CONFLICT (id) DO UPDATE SET budget = EXCLUDED.budget`,
    ),
  };
}
