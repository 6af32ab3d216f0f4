import type { PoolClient } from "pg";
import { LedgerUnavailableError } from "../errors.ts";
import {
  type FunctionOptions,
  pendingSum,
  postHoldSql,
  reserveHoldOnAccountsSql,
  reserveHoldSql,
  voidHoldSql,
} from "./postgres-functions.ts";

/**
 * The PostgreSQL ledger's tables and its money-moving functions, as numbered migrations. A
 * migration is never edited once released: a later one alters or replaces what it must, so an
 * existing database upgrades in place.
 * The functions exist so each reserve, post and void is one round trip: the row locks are held
 * only while the server runs the step, never across a client's network hop or a busy event loop,
 * which bounds how long one process can stall the rest of a fleet.
 *
 * Every function takes its locks before it reads the sums that decide it: under READ COMMITTED each
 * statement of a volatile plpgsql function takes a fresh snapshot, so the sums it reads after a lock
 * include every step that held that lock before it. Locks are always taken in one order — wallet row, then budget account rows
 * sorted by id (bytewise, `COLLATE "C"`), then hold rows (a step locking several sorts them by wallet
 * and id), then those holds' account links — and a step may skip some but never go back, so two
 * steps can never wait on each other in a cycle (migration 4 brought the reserves' sweeps into it).
 */

export interface Migration {
  version: number;
  /** The SQL to run, given the already quoted schema name. */
  sql(schema: string): string;
}

/** How migrations 1 and 2 created the functions they share with migration 3. */
const FIRST: FunctionOptions = { create: "CREATE FUNCTION", expiredState: false, sortedSweep: false };
/** Migration 3 redefines them in place (same signatures). */
const STEP_BACK_SAFE: FunctionOptions = {
  create: "CREATE OR REPLACE FUNCTION",
  expiredState: true,
  sortedSweep: false,
};
/** Migration 4 redefines the two reserves in place (same signatures). */
const LOCK_ORDERED: FunctionOptions = { ...STEP_BACK_SAFE, sortedSweep: true };

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: (s) => `
CREATE TABLE ${s}.wallet (
  id TEXT PRIMARY KEY,
  budget BIGINT NOT NULL CHECK (budget >= 0),
  posted BIGINT NOT NULL DEFAULT 0 CHECK (posted >= 0)
);

CREATE TABLE ${s}.holds (
  wallet_id TEXT NOT NULL REFERENCES ${s}.wallet (id),
  id TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount >= 0),
  state TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
  created_at_ms BIGINT NOT NULL,
  expires_at_ms BIGINT NOT NULL,
  posted BIGINT CHECK (posted >= 0),
  shortfall BIGINT CHECK (shortfall >= 0),
  late_settle BOOLEAN NOT NULL DEFAULT false,
  closed_at_ms BIGINT,
  PRIMARY KEY (wallet_id, id)
);

CREATE INDEX holds_in_flight ON ${s}.holds (wallet_id, expires_at_ms) INCLUDE (amount) WHERE state = 'pending';

${reserveHoldSql(s, FIRST)}

CREATE FUNCTION ${s}.post_hold(p_wallet TEXT, p_id TEXT, p_cost BIGINT, p_now_ms BIGINT)
RETURNS TABLE (
  outcome TEXT, posted_ut BIGINT, shortfall_ut BIGINT, late_settle_flag BOOLEAN,
  budget_ut BIGINT, wallet_posted_ut BIGINT, pending_ut BIGINT
)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_hold RECORD;
BEGIN
  SELECT w.budget, w.posted INTO budget_ut, wallet_posted_ut FROM ${s}.wallet AS w WHERE w.id = p_wallet FOR UPDATE;
  SELECT h.amount, h.state, h.expires_at_ms, h.posted, h.shortfall, h.late_settle INTO v_hold
    FROM ${s}.holds AS h WHERE h.wallet_id = p_wallet AND h.id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    outcome := 'missing';
    RETURN NEXT;
    RETURN;
  END IF;
  ${pendingSum(s)} INTO pending_ut;
  IF v_hold.state = 'voided' THEN
    outcome := 'voided';
  ELSIF v_hold.state = 'posted' THEN
    outcome := 'posted';
    posted_ut := v_hold.posted;
    shortfall_ut := v_hold.shortfall;
    late_settle_flag := v_hold.late_settle;
  ELSE
    -- An expired hold no longer counts in pending_ut: the call really happened, so it takes what
    -- the budget still has free, never more.
    late_settle_flag := v_hold.expires_at_ms <= p_now_ms;
    IF late_settle_flag THEN
      posted_ut := LEAST(p_cost, v_hold.amount, GREATEST(0, budget_ut - wallet_posted_ut - pending_ut));
    ELSE
      posted_ut := LEAST(p_cost, v_hold.amount);
      pending_ut := pending_ut - v_hold.amount;
    END IF;
    shortfall_ut := p_cost - posted_ut;
    UPDATE ${s}.holds AS h
      SET state = 'posted', posted = posted_ut, shortfall = shortfall_ut,
          late_settle = late_settle_flag, closed_at_ms = p_now_ms
      WHERE h.wallet_id = p_wallet AND h.id = p_id;
    UPDATE ${s}.wallet AS w SET posted = w.posted + posted_ut WHERE w.id = p_wallet;
    wallet_posted_ut := wallet_posted_ut + posted_ut;
    outcome := 'posted';
  END IF;
  RETURN NEXT;
END
$fn$;

CREATE FUNCTION ${s}.void_hold(p_wallet TEXT, p_id TEXT, p_now_ms BIGINT)
RETURNS TABLE (outcome TEXT, budget_ut BIGINT, posted_ut BIGINT, pending_ut BIGINT)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_state TEXT;
BEGIN
  SELECT h.state INTO v_state FROM ${s}.holds AS h WHERE h.wallet_id = p_wallet AND h.id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    outcome := 'missing';
  ELSIF v_state = 'pending' THEN
    UPDATE ${s}.holds AS h SET state = 'voided', closed_at_ms = p_now_ms
      WHERE h.wallet_id = p_wallet AND h.id = p_id;
    outcome := 'voided';
  ELSE
    outcome := v_state;
  END IF;
  SELECT w.budget, w.posted, (${pendingSum(s)}) INTO budget_ut, posted_ut, pending_ut
    FROM ${s}.wallet AS w WHERE w.id = p_wallet;
  RETURN NEXT;
END
$fn$;
`,
  },
  {
    version: 2,
    sql: (s) => `
-- Budget accounts are global within the schema: every wallet holding against an id meets the same
-- account. posted may exceed spend_limit when the limit is lowered below what was already spent.
CREATE TABLE ${s}.accounts (
  id TEXT PRIMARY KEY,
  spend_limit BIGINT NOT NULL CHECK (spend_limit >= 0),
  posted BIGINT NOT NULL DEFAULT 0 CHECK (posted >= 0)
);

-- Which accounts a hold was placed on, in the order the reserve listed them. amount and
-- expires_at_ms are the hold's, copied so an account's pending sum reads one index; pending
-- mirrors holds.state = 'pending' and is cleared by the same step that posts or voids the hold.
CREATE TABLE ${s}.hold_accounts (
  wallet_id TEXT NOT NULL,
  hold_id TEXT NOT NULL,
  account_id TEXT NOT NULL REFERENCES ${s}.accounts (id),
  position SMALLINT NOT NULL CHECK (position >= 0),
  amount BIGINT NOT NULL CHECK (amount >= 0),
  expires_at_ms BIGINT NOT NULL,
  pending BOOLEAN NOT NULL DEFAULT true,
  PRIMARY KEY (wallet_id, hold_id, account_id),
  FOREIGN KEY (wallet_id, hold_id) REFERENCES ${s}.holds (wallet_id, id)
);

CREATE INDEX hold_accounts_in_flight ON ${s}.hold_accounts (account_id, expires_at_ms) INCLUDE (amount) WHERE pending;

-- What pending holds keep on an account at p_now_ms. A hold that ends leaves a dead entry in the
-- partial index until vacuum; an index scan marks such entries as it passes them, a bitmap scan
-- never does, so with bitmap scans the sum would slow down with every hold the account has seen.
-- STABLE: it reads with its caller's snapshot, the one taken after the caller's locks.
CREATE FUNCTION ${s}.account_pending(p_account TEXT, p_now_ms BIGINT) RETURNS BIGINT
LANGUAGE plpgsql STABLE SET enable_bitmapscan = off AS $fn$
BEGIN
  RETURN (SELECT COALESCE(SUM(o.amount), 0) FROM ${s}.hold_accounts AS o
    WHERE o.account_id = p_account AND o.pending AND o.expires_at_ms > p_now_ms);
END
$fn$;

-- reserve_hold (version 1) stays the path of holds without accounts. This one takes the same wallet
-- lock and check, then locks every listed account (creating it, or replacing its limit) in id
-- order, and holds on all of them or on none: a refusal removes the accounts it created and puts
-- back the limits it replaced, so the ledger is left exactly as it was.
${reserveHoldOnAccountsSql(s, FIRST)}

-- post_hold gains the hold's accounts: their numbers after the post, in the order they were listed.
DROP FUNCTION ${s}.post_hold(TEXT, TEXT, BIGINT, BIGINT);

${postHoldSql(s, FIRST)}

-- void_hold also stops the hold counting on its accounts. Lowering a pending sum needs no account
-- lock: a reserve reading it just before or just after sees a sum at least as safe.
${voidHoldSql(s, { create: "CREATE OR REPLACE FUNCTION", expiredState: false, sortedSweep: false })}
`,
  },
  {
    version: 3,
    sql: (s) => `
-- A reserve now marks the holds it stops counting as 'expired' (as the SQLite ledger does), so a
-- database server whose clock steps back cannot make a hold whose room was given out live again:
-- post settles it late, against what is free, and void still voids it.
ALTER TABLE ${s}.holds DROP CONSTRAINT holds_state_check;
ALTER TABLE ${s}.holds ADD CONSTRAINT holds_state_check
  CHECK (state IN ('pending', 'posted', 'voided', 'expired'));

${reserveHoldSql(s, STEP_BACK_SAFE)}

${reserveHoldOnAccountsSql(s, STEP_BACK_SAFE)}

${postHoldSql(s, STEP_BACK_SAFE)}

${voidHoldSql(s, STEP_BACK_SAFE)}
`,
  },
  {
    version: 4,
    sql: (s) => `
-- A reserve on accounts swept its wallet's expired holds before locking the accounts, while another
-- wallet's reserve holding one of those accounts swept the same holds: a deadlock. Both reserves now
-- lock the holds they sweep last, in one pass sorted by wallet and id.
${reserveHoldSql(s, LOCK_ORDERED)}

${reserveHoldOnAccountsSql(s, LOCK_ORDERED)}
`,
  },
];

const LATEST_VERSION = MIGRATIONS.reduce((latest, migration) => Math.max(latest, migration.version), 0);
/** First key of the two-key advisory lock; the second is the schema name's hash. */
const MIGRATION_LOCK_NAMESPACE = 0x75_74_72_73; // "utrs"
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A schema name is spliced into SQL, so only plain identifiers are accepted. */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) {
    throw new RangeError(
      `PostgreSQL schema name must be 1–63 letters, digits or underscores, not starting with a digit; got "${schema}"`,
    );
  }
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Brings `schema` to the latest version. Processes starting together serialize on an advisory lock
 * held by the migrating transaction, so each migration runs once; an up-to-date schema is detected
 * without the lock (and without needing CREATE rights on the database).
 */
export async function migrate(client: PoolClient, schema: string): Promise<void> {
  const quoted = quoteIdentifier(schema);
  if ((await appliedVersion(client, schema)) === LATEST_VERSION) return;
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [MIGRATION_LOCK_NAMESPACE, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.usertrust_migrations (
         version INTEGER PRIMARY KEY,
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
       )`,
    );
    const applied = await appliedVersion(client, schema);
    for (const migration of MIGRATIONS) {
      if (migration.version <= applied) continue;
      await client.query(migration.sql(quoted));
      await client.query(`INSERT INTO ${quoted}.usertrust_migrations (version) VALUES ($1)`, [
        migration.version,
      ]);
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** The highest migration applied to `schema`, 0 when it has none; refuses a schema from a newer usertrust. */
async function appliedVersion(client: PoolClient, schema: string): Promise<number> {
  const table = `${quoteIdentifier(schema)}.usertrust_migrations`;
  const exists = await client.query<{ found: boolean }>("SELECT to_regclass($1) IS NOT NULL AS found", [
    table,
  ]);
  if (exists.rows[0]?.found !== true) return 0;
  const result = await client.query<{ version: number }>(
    `SELECT COALESCE(MAX(version), 0) AS version FROM ${table}`,
  );
  const version = result.rows[0]?.version ?? 0;
  if (version > LATEST_VERSION) {
    throw new LedgerUnavailableError(
      `The PostgreSQL schema "${schema}" is at ledger version ${version}, newer than this usertrust ` +
        `understands (${LATEST_VERSION}). Upgrade usertrust in this process, or point it at another schema.`,
    );
  }
  return version;
}
