/**
 * The PostgreSQL ledger's money-moving functions, rendered for the migration that creates them.
 * Migrations are never edited once released: each option below renders exactly the text an
 * earlier migration ran when it is off, and what a later migration redefines when it is on.
 */
export interface FunctionOptions {
  /** "CREATE FUNCTION" (new) or "CREATE OR REPLACE FUNCTION" (redefining, same signature). */
  create: "CREATE FUNCTION" | "CREATE OR REPLACE FUNCTION";
  /**
   * Since migration 3: a reserve marks the wallet's holds it stops counting as `expired` in the same
   * step, and post and void treat such a hold as expired whatever the clock says later. Without it a
   * server clock stepping back would make a hold whose room was already given out live again.
   */
  expiredState: boolean;
  /**
   * Since migration 4 (needs expiredState): a reserve locks the expired holds it sweeps only after
   * the wallet and every account row, in one pass sorted by wallet and id. Before it, a reserve swept
   * its wallet's holds before waiting on an account that another wallet's reserve held while sweeping
   * those same holds: a deadlock.
   */
  sortedSweep: boolean;
}

/** Pending holds of a wallet at `p_now_ms`: the sum that stops counting a hold once it expires. */
export const pendingSum = (schema: string) =>
  `SELECT COALESCE(SUM(h.amount), 0) FROM ${schema}.holds AS h
     WHERE h.wallet_id = p_wallet AND h.state = 'pending' AND h.expires_at_ms > p_now_ms`;

/** Inside a reserve, after the wallet lock: holds this reserve no longer counts stop being pending. */
const sweepExpired = (s: string) => `
  WITH swept AS (
    UPDATE ${s}.holds AS h SET state = 'expired', closed_at_ms = p_now_ms
      WHERE h.wallet_id = p_wallet AND h.state = 'pending' AND h.expires_at_ms <= p_now_ms
      RETURNING h.wallet_id, h.id)
  ${closeLinks(s)};`;

/** The swept holds stop counting on their budget accounts too. */
const closeLinks = (s: string) =>
  `UPDATE ${s}.hold_accounts AS ha SET pending = false FROM swept
    WHERE ha.wallet_id = swept.wallet_id AND ha.hold_id = swept.id AND ha.pending`;

/**
 * After the account locks: the expired holds of any wallet on these accounts (accounts are shared
 * by every wallet in the schema), so another wallet's hold whose account room this reserve gives
 * out cannot come back to life either.
 */
const sweepAccounts = (s: string) => `
  WITH swept AS (
    UPDATE ${s}.holds AS h SET state = 'expired', closed_at_ms = p_now_ms
      FROM ${s}.hold_accounts AS o
      WHERE o.account_id = ANY (p_account_ids) AND o.pending AND o.expires_at_ms <= p_now_ms
        AND h.wallet_id = o.wallet_id AND h.id = o.hold_id AND h.state = 'pending'
      RETURNING h.wallet_id, h.id)
  ${closeLinks(s)};
`;

/**
 * Since migration 4, after every other lock the step takes: the expired holds this reserve stops
 * counting — the wallet's own and, with accounts, those of any wallet on them — locked in one pass
 * sorted by (wallet, id) as every sweep sorts them, so no two sweeps wait on each other in a cycle.
 * One pass, not two: a wallet sweep then an account sweep could each hold a row the other wants.
 */
const sweepSorted = (s: string, onAccounts: boolean) => `
  WITH expired AS (
    SELECT h.wallet_id, h.id FROM ${s}.holds AS h
      WHERE ${onAccounts ? sweptOnAccounts(s) : "h.wallet_id = p_wallet"}
        AND h.state = 'pending' AND h.expires_at_ms <= p_now_ms
      ORDER BY h.wallet_id COLLATE "C", h.id COLLATE "C"
      FOR UPDATE OF h),
  swept AS (
    UPDATE ${s}.holds AS h SET state = 'expired', closed_at_ms = p_now_ms
      FROM expired AS e WHERE h.wallet_id = e.wallet_id AND h.id = e.id
      RETURNING h.wallet_id, h.id)
  ${closeLinks(s)};`;

/** The wallet's holds and those on the listed accounts, each found through its own in-flight index. */
const sweptOnAccounts = (s: string) => `(h.wallet_id, h.id) IN (
          SELECT x.wallet_id, x.id FROM ${s}.holds AS x
            WHERE x.wallet_id = p_wallet AND x.state = 'pending' AND x.expires_at_ms <= p_now_ms
          UNION ALL
          SELECT o.wallet_id, o.hold_id FROM ${s}.hold_accounts AS o
            WHERE o.account_id = ANY (p_account_ids) AND o.pending AND o.expires_at_ms <= p_now_ms)`;

function parts(s: string, options: FunctionOptions) {
  const { expiredState, sortedSweep } = options;
  return {
    create: options.create,
    /** Swept in lockWallet, before any account row is locked (reserve_hold: it locks none). */
    sweep: !expiredState ? "" : sortedSweep ? sweepSorted(s, false) : sweepExpired(s),
    /** Swept after the account locks, by reserve_hold_on_accounts. */
    accountSweep: !expiredState ? "" : sortedSweep ? sweepSorted(s, true) : sweepAccounts(s),
    lateWhen: options.expiredState
      ? "v_hold.state = 'expired' OR v_hold.expires_at_ms <= p_now_ms"
      : "v_hold.expires_at_ms <= p_now_ms",
    voidable: options.expiredState ? "v_state IN ('pending', 'expired')" : "v_state = 'pending'",
  };
}

/** Both reserves start alike: lock the wallet (it must exist), sweep if asked, read its pending sum. */
function lockWallet(s: string, sweep: string): string {
  return `  SELECT w.budget, w.posted INTO budget_ut, posted_ut FROM ${s}.wallet AS w WHERE w.id = p_wallet FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'wallet "%" has no budget yet; open a PostgresLedger on it with budgetUsertokens, or call setBudget', p_wallet
      USING ERRCODE = 'P0002';
  END IF;${sweep}
  ${pendingSum(s)} INTO pending_ut;`;
}

/** reserve_hold: a hold on the wallet alone (migration 1). */
export function reserveHoldSql(s: string, options: FunctionOptions): string {
  const { create, sweep } = parts(s, options);
  return `${create} ${s}.reserve_hold(
  p_wallet TEXT, p_id TEXT, p_amount BIGINT, p_now_ms BIGINT, p_expires_at_ms BIGINT
) RETURNS TABLE (granted BOOLEAN, budget_ut BIGINT, posted_ut BIGINT, pending_ut BIGINT)
LANGUAGE plpgsql AS $fn$
BEGIN
${lockWallet(s, sweep)}
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
$fn$;`;
}

/** reserve_hold_on_accounts: a hold on the wallet and every listed budget account, all or none (migration 2). */
export function reserveHoldOnAccountsSql(s: string, options: FunctionOptions): string {
  const { create, sweep, accountSweep } = parts(s, options);
  // A sorted sweep covers the wallet's own holds too, so none is swept before the account locks.
  const walletSweep = options.sortedSweep ? "" : sweep;
  return `${create} ${s}.reserve_hold_on_accounts(
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
${lockWallet(s, walletSweep)}
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
  END LOOP;${accountSweep}

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
$fn$;`;
}

/** post_hold with the hold's accounts (migration 2's form). */
export function postHoldSql(s: string, options: FunctionOptions): string {
  const { create, lateWhen } = parts(s, options);
  return `${create} ${s}.post_hold(p_wallet TEXT, p_id TEXT, p_cost BIGINT, p_now_ms BIGINT)
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
    late_settle_flag := ${lateWhen};
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
$fn$;`;
}

/** void_hold that also stops the hold counting on its accounts (migration 2's form). */
export function voidHoldSql(s: string, options: FunctionOptions): string {
  const { create, voidable } = parts(s, options);
  return `${create} ${s}.void_hold(p_wallet TEXT, p_id TEXT, p_now_ms BIGINT)
RETURNS TABLE (outcome TEXT, budget_ut BIGINT, posted_ut BIGINT, pending_ut BIGINT)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_state TEXT;
BEGIN
  SELECT h.state INTO v_state FROM ${s}.holds AS h WHERE h.wallet_id = p_wallet AND h.id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    outcome := 'missing';
  ELSIF ${voidable} THEN
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
$fn$;`;
}
