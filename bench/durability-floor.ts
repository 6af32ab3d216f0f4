import { createHash, randomUUID } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { OpsResult } from "./ledger-alone.ts";
import { LatencySamples, perSecond } from "./stats.ts";
import { makeBenchDir } from "./temp-vault.ts";

/** About the length of a spend event's line in events.jsonl. */
const LINE = `{"kind":"spend","data":${JSON.stringify("x".repeat(640))}}`;

/**
 * The least per-call work of any design that meets the foundation issue's own promises, with no
 * usertrust code: a hold every process sees before the call leaves (one write transaction), then
 * the spend and the chain's head (a second one) with a SHA-256-hashed line handed to the OS before
 * the call returns. Bare node:sqlite in WAL with synchronous=OFF and 1 KiB pages, as the vault uses.
 */
class FloorVault {
  readonly #db: DatabaseSync;
  readonly #fd: number;
  readonly #begin;
  readonly #commit;
  readonly #insertHold;
  readonly #closeHold;
  readonly #addPosted;
  #previousHash = "0".repeat(64);

  constructor(dir: string) {
    this.#db = new DatabaseSync(join(dir, "floor.db"));
    this.#db.exec(`PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
      CREATE TABLE wallet (id INTEGER PRIMARY KEY, posted INTEGER NOT NULL);
      INSERT INTO wallet VALUES (1, 0);
      CREATE TABLE holds (id TEXT PRIMARY KEY, amount INTEGER NOT NULL, state TEXT NOT NULL) WITHOUT ROWID;`);
    this.#begin = this.#db.prepare("BEGIN IMMEDIATE");
    this.#commit = this.#db.prepare("COMMIT");
    this.#insertHold = this.#db.prepare("INSERT INTO holds VALUES (?, ?, 'pending')");
    this.#closeHold = this.#db.prepare("UPDATE holds SET state = 'posted' WHERE id = ?");
    this.#addPosted = this.#db.prepare("UPDATE wallet SET posted = posted + ? WHERE id = 1");
    this.#fd = openSync(join(dir, "floor.jsonl"), "a");
  }

  reserve(id: string): void {
    this.#begin.run();
    this.#insertHold.run(id, 20);
    this.#commit.run();
  }

  postWithLine(id: string): void {
    this.#begin.run();
    this.#closeHold.run(id);
    this.#addPosted.run(7);
    this.#previousHash = createHash("sha256").update(this.#previousHash).update(LINE).digest("hex");
    writeSync(this.#fd, `${LINE.slice(0, -1)},"hash":"${this.#previousHash}"}\n`);
    this.#commit.run();
  }

  close(): void {
    closeSync(this.#fd);
    this.#db.close();
  }
}

function idle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

export interface FloorResult {
  backToBack: OpsResult;
  /** The same two steps with the CPU idle ~1 ms before each, as around a real call. */
  afterIdle: OpsResult;
}

export async function benchDurabilityFloor(
  ops: number,
  idleOps: number,
  warmup: number,
): Promise<FloorResult> {
  const { dir, cleanup } = makeBenchDir("floor");
  const vault = new FloorVault(dir);
  const call = (): void => {
    const id = randomUUID();
    vault.reserve(id);
    vault.postWithLine(id);
  };
  try {
    for (let i = 0; i < warmup; i++) call();
    const samples = new LatencySamples(ops);
    const startNs = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) {
      const startMs = performance.now();
      call();
      samples.recordSince(startMs);
    }
    const backToBack = {
      ops,
      opsPerSec: perSecond(ops, startNs, process.hrtime.bigint()),
      perOp: samples.summary(),
    };

    const idleSamples = new LatencySamples(idleOps);
    let busyNs = 0n;
    for (let i = 0; i < idleOps; i++) {
      const id = randomUUID();
      await idle();
      const reserveStart = process.hrtime.bigint();
      vault.reserve(id);
      const reserveNs = process.hrtime.bigint() - reserveStart;
      await idle();
      const postStart = process.hrtime.bigint();
      vault.postWithLine(id);
      const stepsNs = reserveNs + (process.hrtime.bigint() - postStart);
      busyNs += stepsNs;
      idleSamples.recordAt(i, Number(stepsNs) / 1000);
    }
    const afterIdle = {
      ops: idleOps,
      opsPerSec: perSecond(idleOps, 0n, busyNs),
      perOp: idleSamples.summary(),
    };
    return { backToBack, afterIdle };
  } finally {
    vault.close();
    cleanup();
  }
}
