import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";

const STARTUP_TIMEOUT_MS = 15_000;
const EXIT_GRACE_MS = 2_000;

export interface StandInProcess {
  /** e.g. "http://127.0.0.1:54321" (no /v1). */
  url: string;
  pid: number;
  /** SIGTERM, then SIGKILL after a grace period; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts bench/stand-in-server.ts in a child Node process. The child's stdin is a pipe from us,
 * so it also exits on its own if this process dies without calling stop().
 */
export async function startStandInProcess(): Promise<StandInProcess> {
  const entry = new URL("./stand-in-server.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", entry], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.on("exit", killOnExit);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= stopChild(child).finally(() => process.off("exit", killOnExit));
    return stopping;
  };
  try {
    const url = await readUrl(child);
    return { url, pid: child.pid ?? -1, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function readUrl(child: ChildProcess): Promise<string> {
  if (child.stdout === null) throw new Error("stand-in child has no stdout");
  const lines = createInterface({ input: child.stdout });
  const timeout = AbortSignal.timeout(STARTUP_TIMEOUT_MS);
  const exited = once(child, "exit", { signal: timeout }).then(([code, signal]) => {
    throw new Error(`stand-in child exited before listening (code ${code}, signal ${signal})`);
  });
  const firstLine = once(lines, "line", { signal: timeout }).then(([line]) => String(line));
  try {
    const line = await Promise.race([firstLine, exited]);
    const { url } = JSON.parse(line) as { url?: unknown };
    if (typeof url !== "string") throw new Error(`stand-in child printed no url: ${line}`);
    return url;
  } catch (error) {
    if (timeout.aborted) throw new Error(`stand-in child did not listen within ${STARTUP_TIMEOUT_MS} ms`);
    throw error;
  } finally {
    exited.catch(() => {});
    firstLine.catch(() => {});
    lines.close();
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const outcome = await Promise.race([
    exited.then(() => "exited" as const),
    sleep(EXIT_GRACE_MS, "late" as const),
  ]);
  if (outcome === "late") {
    child.kill("SIGKILL");
    await exited;
  }
}
