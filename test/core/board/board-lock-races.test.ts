import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { BREAK_LOCK_SUFFIX, withFileLock } from "../../../src/core/board/board-lock.ts";
import { killWorker, startWorker, type Worker } from "../../support/worker-process.ts";
import type { StepOptions } from "../../support/workers/board-lock-step.ts";

/*
 * Breaking a lock left by a crashed process, replayed with real processes in the orders the OS
 * scheduler can produce. The only help is a pause of the breaking process right before and right
 * after it takes `board.lock.break` (it is descheduled there), through signal files.
 */

const STEP = fileURLToPath(new URL("../../support/workers/board-lock-step.ts", import.meta.url));
/** Long enough for a waiter that would wrongly get in to do so (it retries every few ms). */
const STILL_OUT_MS = 400;
const workers: Worker[] = [];
const folders: string[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  return Number(child.stdout);
}

/** A board folder whose lock was left by a process of this machine (and pid namespace) that has exited. */
function folderWithCrashedHolder(): { dir: string; lockPath: string } {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-lock-race-"));
  folders.push(dir);
  mkdirSync(join(dir, "board"));
  const lockPath = join(dir, "board", "board.lock");
  const ours = withFileLock(lockPath, () => readFileSync(lockPath, "utf8"));
  writeFileSync(lockPath, ours.replace(/^\d+/, String(deadPid())));
  return { dir, lockPath };
}

function start(options: StepOptions): Worker {
  return startWorker(workers, STEP, [JSON.stringify(options)]);
}

function line(worker: Worker, type: string): Record<string, unknown> | undefined {
  const found = worker.lines.find((text) => text.startsWith(`{"type":"${type}"`));
  return found === undefined ? undefined : (JSON.parse(found) as Record<string, unknown>);
}

async function waitLine(worker: Worker, type: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  await worker.waitUntil(() => line(worker, type) !== undefined, timeoutMs, `"${type}" line`);
  return line(worker, type) as Record<string, unknown>;
}

async function waitUntilGone(path: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} still exists after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const signal = (dir: string, name: string) => writeFileSync(join(dir, name), "");

describe("the board lock while a crashed holder's lock is broken", () => {
  it("leaves the lock another waiter took after this one judged the crashed holder's lock stale", async () => {
    const { dir, lockPath } = folderWithCrashedHolder();
    const breaker = start({ lockPath, dir, name: "breaker", role: "breaker" });
    await waitLine(breaker, "judged-stale");
    const w1 = start({ lockPath, dir, name: "w1", role: "holder" });
    expect(await waitLine(w1, "inside")).toMatchObject({ alone: true });

    signal(dir, "go-break");
    signal(dir, "go-remove");
    await waitLine(breaker, "breaking");
    await waitUntilGone(`${lockPath}${BREAK_LOCK_SUFFIX}`);
    const w3 = start({ lockPath, dir, name: "w3", role: "holder" });
    await waitLine(w3, "started");
    await pause(STILL_OUT_MS);
    expect(line(breaker, "removed")).toBeUndefined();
    expect(line(breaker, "inside")).toBeUndefined();
    expect(line(w3, "inside")).toBeUndefined();

    signal(dir, "w3-leave");
    signal(dir, "w1-leave");
    expect(await waitLine(breaker, "inside")).toMatchObject({ alone: true });
    expect(await waitLine(w3, "inside")).toMatchObject({ alone: true });
    signal(dir, "w1-exit");
    signal(dir, "w3-exit");
  });

  it("removes nothing and gets in at once when the lock it judged stale was taken and released meanwhile", async () => {
    const { dir, lockPath } = folderWithCrashedHolder();
    const breaker = start({ lockPath, dir, name: "breaker", role: "breaker" });
    await waitLine(breaker, "judged-stale");
    const w1 = start({ lockPath, dir, name: "w1", role: "holder" });
    expect(await waitLine(w1, "inside")).toMatchObject({ alone: true });
    signal(dir, "w1-leave");
    await waitLine(w1, "released");

    // W1 keeps running (a server process), holding nothing.
    const started = Date.now();
    signal(dir, "go-break");
    signal(dir, "go-remove");
    expect(await waitLine(breaker, "inside")).toMatchObject({ alone: true });
    expect(Date.now() - started).toBeLessThan(2_000);
    await waitLine(breaker, "released");
    expect(line(breaker, "removed")).toBeUndefined();
    expect(readdirSync(join(dir, "board"))).toEqual([]);
    signal(dir, "w1-exit");
  });

  it("makes other waiters wait while one breaks the lock, then lets each in alone", async () => {
    const { dir, lockPath } = folderWithCrashedHolder();
    const breaker = start({ lockPath, dir, name: "breaker", role: "breaker" });
    signal(dir, "go-break");
    await waitLine(breaker, "breaking");
    // The breaker holds board.lock.break and has not removed the crashed holder's lock yet.
    const w1 = start({ lockPath, dir, name: "w1", role: "holder" });
    signal(dir, "w1-leave");
    await waitLine(w1, "started");
    await pause(STILL_OUT_MS);
    expect(line(w1, "inside")).toBeUndefined();

    signal(dir, "go-remove");
    await waitLine(breaker, "removed");
    expect(await waitLine(breaker, "inside")).toMatchObject({ alone: true });
    expect(await waitLine(w1, "inside")).toMatchObject({ alone: true });
    await waitLine(w1, "released");
    expect(readdirSync(join(dir, "board"))).toEqual([]);
    signal(dir, "w1-exit");
  });
});
