import { LedgerUnavailableError } from "../errors.ts";
import { type AccountBalance, type LedgerBalance, makeBalance, type PostResult } from "./ledger.ts";

/**
 * The rows the PostgreSQL ledger's functions and reads return, and how they read as ledger numbers.
 * pg returns BIGINT and SUM as strings; anything that is not a safe whole number of usertokens
 * means the tables or functions were changed outside usertrust, and is refused rather than guessed at.
 */

export interface BalanceRow {
  budget_ut: string | null;
  posted_ut: string | null;
  pending_ut: string | null;
}

export interface ReserveRow extends BalanceRow {
  granted: boolean;
  /** The hold existed before this reserve (a retried id): nothing was added. */
  existed: boolean;
}

export interface AccountReserveRow extends ReserveRow {
  /** The first listed account that lacked room, when that is what refused the hold. */
  refused_account: string | null;
  account_remaining_ut: string | null;
}

export interface PostRow {
  outcome: "missing" | "voided" | "posted";
  posted_ut: string | null;
  shortfall_ut: string | null;
  late_settle_flag: boolean | null;
  budget_ut: string | null;
  wallet_posted_ut: string | null;
  pending_ut: string | null;
  /** The hold's accounts in the order its reserve listed them; null for a hold on none. */
  account_ids: string[] | null;
  account_limits_ut: string[] | null;
  account_posted_ut: string[] | null;
  account_pending_ut: string[] | null;
}

export interface VoidRow extends BalanceRow {
  outcome: "missing" | "voided" | "posted";
}

/** `where` names the ledger in messages: `The PostgreSQL ledger at host:port/db (schema "s")`. */
export function readBalance(row: BalanceRow, where: string): LedgerBalance {
  return makeBalance(
    readUsertokens(row.budget_ut, where),
    readUsertokens(row.posted_ut, where),
    readUsertokens(row.pending_ut, where),
  );
}

/** A post that posted (now or, for a retried id, before): its numbers, the wallet's and its accounts'. */
export function readPostResult(row: PostRow, where: string): PostResult {
  return {
    postedUsertokens: readUsertokens(row.posted_ut, where),
    shortfallUsertokens: readUsertokens(row.shortfall_ut, where),
    lateSettle: row.late_settle_flag === true,
    balance: readBalance(
      { budget_ut: row.budget_ut, posted_ut: row.wallet_posted_ut, pending_ut: row.pending_ut },
      where,
    ),
    accounts: readAccounts(row, where),
  };
}

/** Zips the post's parallel account arrays; arrays of different lengths mean a corrupt reply. */
function readAccounts(row: PostRow, where: string): AccountBalance[] {
  const ids = row.account_ids ?? [];
  const limits = row.account_limits_ut ?? [];
  const posted = row.account_posted_ut ?? [];
  const pending = row.account_pending_ut ?? [];
  if (limits.length !== ids.length || posted.length !== ids.length || pending.length !== ids.length) {
    throw new LedgerUnavailableError(
      `${where} returned mismatched account numbers for a post; its functions were changed outside usertrust.`,
    );
  }
  return ids.map((id, index) => ({
    id,
    balance: readBalance(
      {
        budget_ut: limits[index] ?? null,
        posted_ut: posted[index] ?? null,
        pending_ut: pending[index] ?? null,
      },
      where,
    ),
  }));
}

export function readUsertokens(value: string | null, where: string): number {
  const amount = value === null ? 0 : Number(value);
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new LedgerUnavailableError(
      `${where} holds ${value}, which is not a whole number of usertokens; the ledger tables were changed ` +
        "outside usertrust.",
    );
  }
  return amount;
}
