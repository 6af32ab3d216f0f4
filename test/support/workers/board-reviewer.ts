/**
 * A child process that reviews operations on a vault's board, standing in for one of several
 * processes (workers of a server, say) whose clients share one vault:
 *
 *   node --experimental-strip-types board-reviewer.ts '<ReviewerOptions as JSON>'
 *
 * Opens the board, prints `{"type":"ready"}`, waits for a line on stdin so every process starts
 * together, makes `reviews` reviews, closes the board, prints one `{"type":"summary",…}` line and
 * exits. It exits on its own after LIFETIME_MS_MAX so a parent that died cannot leak it. Import
 * only its types: importing the module runs it.
 */
import { once } from "node:events";
import { createBoard } from "../../../src/core/board/board.ts";

export interface ReviewerOptions {
  vaultRoot: string;
  actor: string;
  reviews: number;
  maxHistory: number;
}

export interface ReviewerSummary {
  type: "summary";
  actor: string;
  reviews: number;
}

const LIFETIME_MS_MAX = 20_000;

const options = JSON.parse(process.argv[2] ?? "") as ReviewerOptions;
const lifetime = setTimeout(() => process.exit(3), LIFETIME_MS_MAX);

const board = createBoard(options.vaultRoot, { maxHistory: options.maxHistory });
process.stdout.write(`${JSON.stringify({ type: "ready" })}\n`);
await once(process.stdin, "data");
process.stdin.destroy();

let reviews = 0;
for (let index = 0; index < options.reviews; index++) {
  board.reviewNow("spend", options.actor, "model call", { context: {} });
  reviews += 1;
}
board.close();

const summary: ReviewerSummary = { type: "summary", actor: options.actor, reviews };
process.stdout.write(`${JSON.stringify(summary)}\n`);
clearTimeout(lifetime);
