import { existsSync } from "node:fs";
import { join } from "node:path";
import { createBoard } from "../core/board/board.ts";
import type { BoardHistoryEntry, BoardStats } from "../core/board/board-types.ts";
import { defaultConfig, loadConfig } from "../core/config.ts";
import type { VaultPaths } from "../core/vault.ts";
import { EXIT_OK, EXIT_USAGE, type Output } from "./cli-io.ts";

/** How many of the newest reviews `usertrust board` lists without --limit. */
export const BOARD_LIST_DEFAULT = 20;

/**
 * `usertrust board`: the board's totals since its session started and its newest reviews, oldest
 * first. `--limit N` lists up to N reviews (at most the config's board.maxHistory).
 */
export function boardReport(
  paths: VaultPaths,
  values: { json?: boolean | undefined; limit?: string | undefined },
  io: { out: Output; err: Output },
): number {
  const config = existsSync(paths.config) ? loadConfig(paths.config) : defaultConfig();
  const { maxHistory } = config.board;
  const limit = values.limit === undefined ? Math.min(BOARD_LIST_DEFAULT, maxHistory) : Number(values.limit);
  if (values.limit !== undefined && !(/^\d+$/.test(values.limit) && limit >= 1 && limit <= maxHistory)) {
    io.err.write(
      `usertrust board: --limit must be a whole number from 1 to ${maxHistory} (board.maxHistory), got "${values.limit}"\n`,
    );
    return EXIT_USAGE;
  }
  const folder = join(paths.root, "board");
  if (!existsSync(folder)) {
    io.err.write(
      `usertrust board: no board history at ${folder} yet; enable the board with ` +
        "`board.enabled: true` in the config and make a governed call, or check --vault-base or --config.\n",
    );
    return EXIT_USAGE;
  }
  const board = createBoard(paths.root, { maxHistory });
  let stats: BoardStats;
  let history: BoardHistoryEntry[];
  try {
    stats = board.stats();
    history = board.history(limit);
  } finally {
    board.close();
  }
  if (values.json) {
    io.out.write(`${JSON.stringify({ vault: paths.root, board: folder, stats, history })}\n`);
  } else {
    io.out.write(formatStats(folder, stats));
    io.out.write(formatHistory(history, stats.totalReviews));
  }
  return EXIT_OK;
}

function formatStats(folder: string, stats: BoardStats): string {
  const concerns = Object.entries(stats.concernCounts)
    .map(([type, count]) => `${type} ${count}`)
    .join(", ");
  return (
    `Board of ${folder}\n` +
    `  reviews   ${stats.totalReviews} (approved ${stats.approved}, blocked ${stats.blocked}, escalated ${stats.escalated})\n` +
    `  concerns  ${concerns}\n`
  );
}

function formatHistory(history: readonly BoardHistoryEntry[], totalReviews: number): string {
  if (history.length === 0) return "No reviews in the history.\n";
  const rows = history.map((entry) => [
    `#${entry.seq}`,
    entry.timestamp,
    printable(entry.kind),
    printable(entry.actor),
    entry.decision,
    `alpha ${entry.votes.alpha}, beta ${entry.votes.beta}`,
    entry.concerns.map((concern) => `${concern.type} ${concern.severity}`).join(", ") || "-",
  ]);
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  const lines = rows.map(
    (row) =>
      `  ${row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd()}\n`,
  );
  const heading =
    history.length < totalReviews
      ? `The newest ${history.length} of ${totalReviews} reviews, oldest first:\n`
      : `${history.length === 1 ? "1 review" : `${history.length} reviews`}, oldest first:\n`;
  return heading + lines.join("");
}

/** Actors and kinds are the caller's text: control characters must not reach the terminal. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}
