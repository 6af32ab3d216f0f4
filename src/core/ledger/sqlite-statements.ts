import { existsSync } from "node:fs";
import type { DatabaseSync } from "node:sqlite";
import { LedgerUnavailableError } from "../errors.ts";
import { VaultDatabase } from "../vault-database.ts";

/** The one wallet row of an embedded ledger: a vault has one budget. */
export const WALLET = "default";

/** The embedded ledger's tables in the vault's SQLite file; created or brought up to date on open. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS wallet (
  id TEXT PRIMARY KEY,
  budget INTEGER NOT NULL CHECK (budget >= 0),
  posted INTEGER NOT NULL DEFAULT 0 CHECK (posted >= 0)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holds (
  id TEXT PRIMARY KEY,
  wallet TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount >= 0),
  created_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
  posted INTEGER,
  shortfall INTEGER,
  late_settle INTEGER NOT NULL DEFAULT 0,
  closed_at_ms INTEGER
) WITHOUT ROWID;
DROP INDEX IF EXISTS holds_in_flight;
CREATE INDEX IF NOT EXISTS holds_pending ON holds (wallet, expires_at_ms, amount) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS budget_accounts (
  id TEXT PRIMARY KEY,
  limit_ut INTEGER NOT NULL CHECK (limit_ut >= 0),
  posted INTEGER NOT NULL DEFAULT 0 CHECK (posted >= 0)
) WITHOUT ROWID;
-- A hold's share of a budget account; \`open\` until the hold is posted or voided, so the pending sum
-- reads only live rows however many holds an account has seen.
CREATE TABLE IF NOT EXISTS hold_accounts (
  hold TEXT NOT NULL,
  account TEXT NOT NULL,
  position INTEGER NOT NULL,
  amount INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  open INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (hold, account)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hold_accounts_open ON hold_accounts (account, expires_at_ms) WHERE open = 1;
`;

/** The statements SqliteLedger runs, prepared once per connection. */
export function prepareStatements(db: DatabaseSync) {
  return {
    closeExpiredHoldAccounts: db.prepare(
      `UPDATE hold_accounts SET open = 0 WHERE open = 1 AND hold IN
         (SELECT id FROM holds WHERE wallet = ? AND state = 'pending' AND expires_at_ms <= ?)`,
    ),
    sweepExpired: db.prepare(
      "UPDATE holds SET state = 'expired', closed_at_ms = ? WHERE wallet = ? AND state = 'pending' AND expires_at_ms <= ?",
    ),
    hold: db.prepare(
      "SELECT amount, expires_at_ms, state, posted, shortfall, late_settle FROM holds WHERE id = ?",
    ),
    insertHold: db.prepare(
      "INSERT INTO holds (id, wallet, amount, created_at_ms, expires_at_ms, state) VALUES (?, ?, ?, ?, ?, 'pending') ON CONFLICT (id) DO NOTHING",
    ),
    /** The caller read the hold (pending, live) in this same transaction. */
    postLive: db.prepare(
      "UPDATE holds SET state = 'posted', posted = ?, shortfall = ?, closed_at_ms = ? WHERE id = ?",
    ),
    postLate: db.prepare(
      "UPDATE holds SET state = 'posted', posted = ?, shortfall = ?, late_settle = 1, closed_at_ms = ? WHERE id = ?",
    ),
    voidOpen: db.prepare(
      "UPDATE holds SET state = 'voided', closed_at_ms = ? WHERE id = ? AND state IN ('pending', 'expired')",
    ),
    addPosted: db.prepare("UPDATE wallet SET posted = posted + ? WHERE id = ?"),
    totals: db.prepare(
      `SELECT budget, posted,
         (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE wallet = w.id AND state = 'pending' AND expires_at_ms > ?) AS pending
       FROM wallet AS w WHERE id = ?`,
    ),
    /** totals, plus whether any pending hold has expired (for the sweep). */
    reserveTotals: db.prepare(
      `SELECT budget, posted,
         (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE wallet = w.id AND state = 'pending' AND expires_at_ms > ?) AS pending,
         EXISTS (SELECT 1 FROM holds WHERE wallet = w.id AND state = 'pending' AND expires_at_ms <= ?) AS expired
       FROM wallet AS w WHERE id = ?`,
    ),
    account: db.prepare("SELECT id FROM budget_accounts WHERE id = ?"),
    upsertAccount: db.prepare(
      "INSERT INTO budget_accounts (id, limit_ut) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET limit_ut = excluded.limit_ut",
    ),
    insertHoldAccount: db.prepare(
      "INSERT INTO hold_accounts (hold, account, position, amount, expires_at_ms) VALUES (?, ?, ?, ?, ?)",
    ),
    holdAccounts: db.prepare("SELECT account FROM hold_accounts WHERE hold = ? ORDER BY position"),
    addAccountPosted: db.prepare(
      "UPDATE budget_accounts SET posted = posted + ? WHERE id IN (SELECT account FROM hold_accounts WHERE hold = ?)",
    ),
    closeHoldAccounts: db.prepare("UPDATE hold_accounts SET open = 0 WHERE hold = ? AND open = 1"),
    accountTotals: db.prepare(
      `SELECT limit_ut AS "limit", posted,
         (SELECT COALESCE(SUM(amount), 0) FROM hold_accounts
          WHERE account = a.id AND open = 1 AND expires_at_ms > ?) AS pending
       FROM budget_accounts AS a WHERE id = ?`,
    ),
    upsertBudget: db.prepare(
      "INSERT INTO wallet (id, budget) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET budget = excluded.budget",
    ),
  };
}

/**
 * Whether the embedded ledger at `path` holds a budget yet: an engine opening it with one writes the
 * wallet row; a vault used only in dry-run has a ledger.db with the audit head alone. Creates nothing.
 */
export function hasSqliteBudget(path: string): boolean {
  if (!existsSync(path)) return false;
  let database: VaultDatabase;
  try {
    database = new VaultDatabase(path, "normal");
  } catch (error) {
    throw new LedgerUnavailableError(
      `Cannot open the ledger at ${path}: ${(error as Error).message}. Check that it is a usertrust ledger.`,
      { cause: error },
    );
  }
  try {
    const table = database.db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'wallet'")
      .get();
    return (
      table !== undefined &&
      database.db.prepare("SELECT 1 FROM wallet WHERE id = ?").get(WALLET) !== undefined
    );
  } finally {
    database.close();
  }
}
