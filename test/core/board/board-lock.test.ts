import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LOCK_STALE_MS, withFileLock } from "../../../src/core/board/board-lock.ts";

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
    withFileLock(path, () => undefined);
    writeFileSync(path, `${deadPid()}@${hostname()} 0.1`);
    const started = Date.now();
    expect(withFileLock(path, () => "ran")).toBe("ran");
    expect(Date.now() - started).toBeLessThan(LOCK_STALE_MS);
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
