import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { LOCK_STALE_MS } from "../../../src/core/board/board-lock.ts";
import { killWorker, startWorker, type Worker } from "../../support/worker-process.ts";
import type { StepOptions } from "../../support/workers/board-lock-step.ts";

/*
 * Processes with the same host name do not always share one pid space: a container run with
 * `--network host` (Docker gives it the host's name), or two containers of one Kubernetes pod, each
 * have their own pid namespace while they share the vault volume. There a holder's pid means
 * nothing to a waiter of another namespace, so its lock is judged by age only.
 */

const STEP = fileURLToPath(new URL("../../support/workers/board-lock-step.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
/** Long enough for a waiter that would wrongly break the lock to do so (it retries every few ms). */
const STILL_OUT_MS = 500;
/** `unshare --pid` needs root (or user namespaces); the test that needs it is skipped without. */
const canUnshare =
  process.platform === "linux" &&
  spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"], { stdio: "ignore" }).status === 0;

const workers: Worker[] = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map(killWorker));
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function boardFolder(): { dir: string; lockPath: string } {
  const dir = mkdtempSync(join(tmpdir(), "usertrust-lock-pidns-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "board"));
  return { dir, lockPath: join(dir, "board", "board.lock") };
}

/** A pid that no process of this pid namespace has now. */
function freePid(): number {
  for (let pid = 30_000; pid > 1_000; pid--) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") return pid;
    }
  }
  throw new Error("no free pid");
}

const insideLine = (worker: Worker) => worker.lines.find((text) => text.startsWith('{"type":"inside"'));

describe("the board lock across pid namespaces on one host name", () => {
  it("judges a lock naming a pid of another pid namespace by its age only", async () => {
    const { dir, lockPath } = boardFolder();
    writeFileSync(lockPath, `${freePid()}@${hostname()} pid:[1] 0.1`);
    const waiter = startWorker(workers, STEP, [
      JSON.stringify({ lockPath, dir, name: "host", role: "holder" }),
    ]);
    writeFileSync(join(dir, "host-leave"), "");
    await waiter.waitUntil(
      () => waiter.lines.some((text) => text.includes('"started"')),
      15_000,
      "started line",
    );
    await new Promise((resolve) => setTimeout(resolve, STILL_OUT_MS));
    expect(insideLine(waiter)).toBeUndefined();

    const old = new Date(Date.now() - LOCK_STALE_MS - 1_000);
    utimesSync(lockPath, old, old);
    await waiter.waitUntil(() => insideLine(waiter) !== undefined, 5_000, "inside line");
    expect(insideLine(waiter)).toContain('"alone":true');
    writeFileSync(join(dir, "host-exit"), "");
  });

  it.skipIf(!canUnshare)("does not break the lock of a live holder in another pid namespace", async () => {
    const { dir, lockPath } = boardFolder();
    const holderOptions: StepOptions = { lockPath, dir, name: "container", role: "holder" };
    const pid = freePid();
    // The holder runs in its own pid namespace (like a container), as pid `pid` there: a pid no
    // process of the waiter's namespace has.
    const script =
      `echo ${pid - 1} > /proc/sys/kernel/ns_last_pid; ` +
      `"${process.execPath}" --experimental-strip-types --no-warnings '${STEP}' '${JSON.stringify(holderOptions)}'; exit $?`;
    const child = spawn("unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    cleanups.push(() => {
      writeFileSync(join(dir, "container-leave"), "");
      writeFileSync(join(dir, "container-exit"), "");
      child.kill("SIGKILL");
    });
    const holderLines: string[] = [];
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on("line", (text) => {
        holderLines.push(text);
        if (text.startsWith('{"type":"inside"')) resolve();
      });
      child.on("exit", () => reject(new Error(`the holder exited: ${stderr}`)));
      setTimeout(() => reject(new Error(`no inside line from the holder: ${stderr}`)), 15_000);
    });
    expect(holderLines.find((text) => text.startsWith('{"type":"inside"'))).toContain('"alone":true');

    // A process of the host asks for the lock while the container's process holds it.
    const host = startWorker(workers, STEP, [
      JSON.stringify({ lockPath, dir, name: "host", role: "holder" }),
    ]);
    writeFileSync(join(dir, "host-leave"), "");
    await host.waitUntil(() => host.lines.some((text) => text.includes('"started"')), 15_000, "started line");
    await new Promise((resolve) => setTimeout(resolve, STILL_OUT_MS));
    expect(insideLine(host)).toBeUndefined();

    writeFileSync(join(dir, "container-leave"), "");
    await host.waitUntil(() => insideLine(host) !== undefined, 5_000, "inside line");
    expect(insideLine(host)).toContain('"alone":true');
    writeFileSync(join(dir, "host-exit"), "");
  });
});
