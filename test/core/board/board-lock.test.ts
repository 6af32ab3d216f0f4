import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  BREAK_LOCK_STALE_MS,
  BREAK_LOCK_SUFFIX,
  LOCK_STALE_MS,
  withFileLock,
} from "../../../src/core/board/board-lock.ts";

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function lockPath(): string {
  const folder = mkdtempSync(join(tmpdir(), "usertrust-board-lock-"));
  folders.push(folder);
  return join(folder, "board", "board.lock");
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  return Number(child.stdout);
}

/** What a process of this machine and pid namespace that has exited left in the lock at `path`. */
function nameOfDeadHolder(path: string): string {
  const ours = withFileLock(path, () => readFileSync(path, "utf8"));
  return ours.replace(/^\d+/, String(deadPid()));
}

describe("the board's lock file", () => {
  it("is held while the work runs and removed after it, creating its folder if needed", () => {
    const path = lockPath();
    const seen = withFileLock(path, () => existsSync(path));
    expect(seen).toBe(true);
    expect(existsSync(path)).toBe(false);
  });

  it("is removed when the work throws", () => {
    const path = lockPath();
    expect(() =>
      withFileLock(path, () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(existsSync(path)).toBe(false);
  });

  it("breaks a lock left by a process of this machine that has exited", () => {
    const path = lockPath();
    writeFileSync(path, nameOfDeadHolder(path));
    const started = Date.now();
    expect(withFileLock(path, () => "ran")).toBe("ran");
    expect(Date.now() - started).toBeLessThan(LOCK_STALE_MS);
    expect(readdirSync(join(path, ".."))).toEqual([]);
  });

  it("breaks the lock at once when a waiter died while breaking it, leaving board.lock.break", () => {
    const path = lockPath();
    const dead = nameOfDeadHolder(path);
    writeFileSync(path, dead);
    writeFileSync(`${path}${BREAK_LOCK_SUFFIX}`, dead);
    const started = Date.now();
    expect(withFileLock(path, () => "ran")).toBe("ran");
    expect(Date.now() - started).toBeLessThan(BREAK_LOCK_STALE_MS);
    expect(readdirSync(join(path, ".."))).toEqual([]);
  });

  it(`breaks a board.lock.break of another machine once it is older than ${BREAK_LOCK_STALE_MS} ms`, () => {
    const path = lockPath();
    writeFileSync(path, nameOfDeadHolder(path));
    const breakPath = `${path}${BREAK_LOCK_SUFFIX}`;
    writeFileSync(breakPath, "1@some-other-host pid:[1] 0.1");
    const old = new Date(Date.now() - BREAK_LOCK_STALE_MS - 1_000);
    utimesSync(breakPath, old, old);
    expect(withFileLock(path, () => "ran")).toBe("ran");
    expect(readdirSync(join(path, ".."))).toEqual([]);
  });

  it(`breaks a lock of another machine once it is older than ${LOCK_STALE_MS} ms`, () => {
    const path = lockPath();
    withFileLock(path, () => undefined);
    writeFileSync(path, "1@some-other-host 0.1");
    const old = new Date(Date.now() - LOCK_STALE_MS - 1_000);
    utimesSync(path, old, old);
    expect(withFileLock(path, () => "ran")).toBe("ran");
    expect(existsSync(path)).toBe(false);
  });

  it("leaves a lock it did not take in place when released", () => {
    const path = lockPath();
    withFileLock(path, () => {
      // A waiter broke this lock after a long stall and took its own.
      rmSync(path);
      writeFileSync(path, "1@some-other-host 0.1");
    });
    expect(existsSync(path)).toBe(true);
  });
});
