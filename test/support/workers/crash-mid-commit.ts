/**
 * A child process that settles one hold on a vault the way the engine does (the ledger and the
 * audit chain share one VaultDatabase connection, the spend event is appended inside the post's
 * transaction) and is SIGKILLed part-way through that transaction:
 *
 *   node --experimental-strip-types crash-mid-commit.ts '<CrashOptions as JSON>'
 *
 * - "after-write": after the audit chain wrote the transaction's lines, before COMMIT (a later
 *   transaction participant kills the process);
 * - "after-append": right after the spend event was appended (queued), before anything is written.
 * Prints `held <holdId>` once the hold is on the ledger. Import only its types.
 */
import { AuditChain } from "../../../src/core/audit/audit-chain.ts";
import { SqliteLedger } from "../../../src/core/ledger/sqlite-ledger.ts";
import { resolveVault } from "../../../src/core/vault.ts";
import { VaultDatabase } from "../../../src/core/vault-database.ts";

export interface CrashOptions {
  vaultBase: string;
  holdId: string;
  mode: "after-write" | "after-append";
}

const options = JSON.parse(process.argv[2] ?? "") as CrashOptions;
setTimeout(() => process.exit(3), 30_000).unref();

function die(): never {
  process.kill(process.pid, "SIGKILL");
  // SIGKILL is delivered at once; never return into the transaction meanwhile.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}

const paths = resolveVault({ vaultBase: options.vaultBase });
const database = new VaultDatabase(paths.ledger, "normal");
const ledger = new SqliteLedger({ database, budgetUsertokens: 1_000 });
const chain = new AuditChain({ logPath: paths.auditLog, database });
await ledger.reserve(options.holdId, 100, 600);
process.stdout.write(`held ${options.holdId}\n`);
if (options.mode === "after-write") {
  // Joined after the chain, so its beforeCommit runs once the chain's lines are written.
  database.join({ markPiece: () => null, undoPiece: () => {}, beforeCommit: die, afterRollback: () => {} });
}
await ledger.post(options.holdId, 40, () => {
  chain.append("spend", "crasher", { transferId: options.holdId, costUsertokens: 40 });
  if (options.mode === "after-append") die();
});
process.stdout.write("committed\n");
process.exit(0);
