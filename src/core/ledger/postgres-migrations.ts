import type { PoolClient } from "pg";
import { LedgerUnavailableError } from "../errors.ts";

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
 * sorted by id (bytewise, `COLLATE "C"`), then the hold, then the hold's account links — and a step
 * may skip some but never go back, so two steps can never wait on each other in a cycle.
 */

export interface Migration {
  version: number;
  /** The SQL to run, given the already quoted schema name. */
  sql(schema: string): string;
}

/** Pending holds of a wallet at `p_now_ms`: the sum that stops counting a hold once it expires. */
const pendingSum = (schema: string) =>
  `SELECT COALESCE(SUM(h.amount), 0) FROM ${schema}.holds AS h
     WHERE h.wallet_id = p_wallet AND h.state = 'pending' AND h.expires_at_ms > p_now_ms`;

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

CREATE FUNCTION ${s}.reserve_hold(
  p_wallet TEXT, p_id TEXT, p_amount BIGINT, p_now_ms BIGINT, p_expires_at_ms BIGINT
) RETURNS TABLE (granted BOOLEAN, budget_ut BIGINT, posted_ut BIGINT, pending_ut BIGINT)
LANGUAGE plpgsql AS $fn$
BEGIN
  SELECT w.budget, w.posted INTO budget_ut, posted_ut FROM ${s}.wallet AS w WHERE w.id = p_wallet FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'wallet "%" has no budget yet; open a PostgresLedger on it with budgetUsertokens, or call setBudget', p_wallet
      USING ERRCODE = 'P0002';
  END IF;
  ${pendingSum(s)} INTO pending_ut;
  granted := true;
  IF NOT EXISTS (SELECT 1 FROM ${s}.holds AS h WHERE h.wallet_id = p_wallet AND h.id = p_id) THEN
    IF budget_ut - posted_ut - pending_ut < p_amount THEN
      granted := false;
    ELSE
      INSERT INTO ${s}.holds (wallet_id, id, amount, state, created_at_ms, expires_at_ms)
        VALUES (p_wallet, p_id, p_amount, 'pending', p_now_ms, p_expires_at_ms);
      pending_ut := pending_ut + p_amount;
    END IF;
  END IF;
  RETURN NEXT;
END
$fn$;

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
CREATE FUNCTION ${s}.reserve_hold_on_accounts(
  p_wallet TEXT, p_id TEXT, p_amount BIGINT, p_now_ms BIGINT, p_expires_at_ms BIGINT,
  p_account_ids TEXT[], p_account_limits BIGINT[]
) RETURNS TABLE (
  granted BOOLEAN, budget_ut BIGINT, posted_ut BIGINT, pending_ut BIGINT,
  refused_account TEXT, account_remaining_ut BIGINT
)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_account RECORD;
  v_limit BIGINT;
  v_created TEXT[] := '{}';
  v_replaced TEXT[] := '{}';
  v_replaced_limits BIGINT[] := '{}';
BEGIN
  SELECT w.budget, w.posted INTO budget_ut, posted_ut FROM ${s}.wallet AS w WHERE w.id = p_wallet FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'wallet "%" has no budget yet; open a PostgresLedger on it with budgetUsertokens, or call setBudget', p_wallet
      USING ERRCODE = 'P0002';
  END IF;
  ${pendingSum(s)} INTO pending_ut;
  granted := true;
  IF EXISTS (SELECT 1 FROM ${s}.holds AS h WHERE h.wallet_id = p_wallet AND h.id = p_id) THEN
    RETURN NEXT;
    RETURN;
  END IF;
  IF budget_ut - posted_ut - pending_ut < p_amount THEN
    granted := false;
    RETURN NEXT;
    RETURN;
  END IF;

  FOR v_account IN
    SELECT l.id, l.spend_limit FROM unnest(p_account_ids, p_account_limits) AS l (id, spend_limit)
      ORDER BY l.id COLLATE "C"
  LOOP
    -- A concurrent creator of the same id makes this wait for its end; either way the row is ours after.
    INSERT INTO ${s}.accounts (id, spend_limit) VALUES (v_account.id, v_account.spend_limit)
      ON CONFLICT (id) DO NOTHING;
    IF FOUND THEN
      v_created := v_created || v_account.id;
    ELSE
      SELECT a.spend_limit INTO v_limit FROM ${s}.accounts AS a WHERE a.id = v_account.id FOR UPDATE;
      IF v_limit <> v_account.spend_limit THEN
        v_replaced := v_replaced || v_account.id;
        v_replaced_limits := v_replaced_limits || v_limit;
        UPDATE ${s}.accounts AS a SET spend_limit = v_account.spend_limit WHERE a.id = v_account.id;
      END IF;
    END IF;
  END LOOP;

  -- Checked in the order the caller listed them, so the refusal names the first that lacks room.
  SELECT l.id, r.room INTO v_account
    FROM unnest(p_account_ids) WITH ORDINALITY AS l (id, listed)
    JOIN ${s}.accounts AS a ON a.id = l.id
    CROSS JOIN LATERAL (SELECT a.spend_limit - a.posted - ${s}.account_pending(a.id, p_now_ms) AS room) AS r
    WHERE r.room < p_amount
    ORDER BY l.listed
    LIMIT 1;
  IF FOUND THEN
    DELETE FROM ${s}.accounts AS a WHERE a.id = ANY (v_created);
    UPDATE ${s}.accounts AS a SET spend_limit = r.spend_limit
      FROM unnest(v_replaced, v_replaced_limits) AS r (id, spend_limit) WHERE a.id = r.id;
    granted := false;
    refused_account := v_account.id;
    account_remaining_ut := GREATEST(0, v_account.room);
    RETURN NEXT;
    RETURN;
  END IF;

  INSERT INTO ${s}.holds (wallet_id, id, amount, state, created_at_ms, expires_at_ms)
    VALUES (p_wallet, p_id, p_amount, 'pending', p_now_ms, p_expires_at_ms);
  INSERT INTO ${s}.hold_accounts (wallet_id, hold_id, account_id, position, amount, expires_at_ms)
    SELECT p_wallet, p_id, l.id, l.listed - 1, p_amount, p_expires_at_ms
      FROM unnest(p_account_ids) WITH ORDINALITY AS l (id, listed);
  pending_ut := pending_ut + p_amount;
  RETURN NEXT;
END
$fn$;

-- post_hold gains the hold's accounts: their numbers after the post, in the order they were listed.
DROP FUNCTION ${s}.post_hold(TEXT, TEXT, BIGINT, BIGINT);

CREATE FUNCTION ${s}.post_hold(p_wallet TEXT, p_id TEXT, p_cost BIGINT, p_now_ms BIGINT)
RETURNS TABLE (
  outcome TEXT, posted_ut BIGINT, shortfall_ut BIGINT, late_settle_flag BOOLEAN,
  budget_ut BIGINT, wallet_posted_ut BIGINT, pending_ut BIGINT,
  account_ids TEXT[], account_limits_ut BIGINT[], account_posted_ut BIGINT[], account_pending_ut BIGINT[]
)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_hold RECORD;
  v_on_accounts BOOLEAN;
  v_account_room BIGINT;
BEGIN
  SELECT w.budget, w.posted INTO budget_ut, wallet_posted_ut FROM ${s}.wallet AS w WHERE w.id = p_wallet FOR UPDATE;
  -- A hold's links never change after its reserve, so they can be read before its accounts are locked.
  v_on_accounts := EXISTS (SELECT 1 FROM ${s}.hold_accounts AS ha WHERE ha.wallet_id = p_wallet AND ha.hold_id = p_id);
  IF v_on_accounts THEN
    PERFORM 1 FROM ${s}.accounts AS a
      WHERE a.id IN (SELECT ha.account_id FROM ${s}.hold_accounts AS ha WHERE ha.wallet_id = p_wallet AND ha.hold_id = p_id)
      ORDER BY a.id COLLATE "C"
      FOR UPDATE;
  END IF;
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
    RETURN NEXT;
    RETURN;
  ELSIF v_hold.state = 'posted' THEN
    outcome := 'posted';
    posted_ut := v_hold.posted;
    shortfall_ut := v_hold.shortfall;
    late_settle_flag := v_hold.late_settle;
  ELSE
    -- An expired hold no longer counts in any pending sum: the call really happened, so it takes
    -- what the wallet and every one of its accounts still have free, never more.
    late_settle_flag := v_hold.expires_at_ms <= p_now_ms;
    IF late_settle_flag THEN
      posted_ut := LEAST(p_cost, v_hold.amount, GREATEST(0, budget_ut - wallet_posted_ut - pending_ut));
      IF v_on_accounts THEN
        SELECT MIN(GREATEST(0, a.spend_limit - a.posted - ${s}.account_pending(a.id, p_now_ms)))
          INTO v_account_room
          FROM ${s}.hold_accounts AS ha JOIN ${s}.accounts AS a ON a.id = ha.account_id
          WHERE ha.wallet_id = p_wallet AND ha.hold_id = p_id;
        posted_ut := LEAST(posted_ut, v_account_room);
      END IF;
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
    IF v_on_accounts THEN
      UPDATE ${s}.hold_accounts AS ha SET pending = false WHERE ha.wallet_id = p_wallet AND ha.hold_id = p_id;
      UPDATE ${s}.accounts AS a SET posted = a.posted + posted_ut
        FROM ${s}.hold_accounts AS ha
        WHERE ha.wallet_id = p_wallet AND ha.hold_id = p_id AND a.id = ha.account_id;
    END IF;
    outcome := 'posted';
  END IF;
  IF v_on_accounts THEN
    SELECT array_agg(a.id ORDER BY ha.position), array_agg(a.spend_limit ORDER BY ha.position),
           array_agg(a.posted ORDER BY ha.position),
           array_agg(${s}.account_pending(a.id, p_now_ms) ORDER BY ha.position)
      INTO account_ids, account_limits_ut, account_posted_ut, account_pending_ut
      FROM ${s}.hold_accounts AS ha JOIN ${s}.accounts AS a ON a.id = ha.account_id
      WHERE ha.wallet_id = p_wallet AND ha.hold_id = p_id;
  END IF;
  RETURN NEXT;
END
$fn$;

-- void_hold also stops the hold counting on its accounts. Lowering a pending sum needs no account
-- lock: a reserve reading it just before or just after sees a sum at least as safe.
CREATE OR REPLACE FUNCTION ${s}.void_hold(p_wallet TEXT, p_id TEXT, p_now_ms BIGINT)
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
    UPDATE ${s}.hold_accounts AS ha SET pending = false WHERE ha.wallet_id = p_wallet AND ha.hold_id = p_id;
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
