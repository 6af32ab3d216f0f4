import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KILL_TIMEOUT_MS = 5_000;

export interface Worker {
  child: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  stderr(): string;
  /** Resolves once `condition` holds (rechecked on each output line); rejects if the worker exits first or on timeout. */
  waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs the TypeScript file `script` as its own Node process from the repository root, reading its stdout
 * line by line. The worker is pushed onto `workers`, which the calling test file empties with
 * `killWorker` after each test.
 */
export function startWorker(workers: Worker[], script: string, args: string[]): Worker {
  const child = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", script, ...args], {
    cwd: REPO_ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const wakers = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of wakers) wake();
  };
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    lines.push(line);
    wakeAll();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      resolve({ code, signal });
      wakeAll();
    });
  });
  const worker: Worker = {
    child,
    lines,
    stderr: () => stderr,
    exited,
    waitUntil(condition, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const finish = (error?: Error): void => {
          clearTimeout(timer);
          wakers.delete(check);
          if (error) reject(error);
          else resolve();
        };
        const check = (): void => {
          if (condition()) finish();
          else if (child.exitCode !== null || child.signalCode !== null) {
            finish(new Error(`the worker exited before ${what}; stderr:\n${stderr}`));
          }
        };
        const timer = setTimeout(
          () => finish(new Error(`no ${what} within ${timeoutMs} ms; stderr:\n${stderr}`)),
          timeoutMs,
        );
        wakers.add(check);
        check();
      });
    },
  };
  workers.push(worker);
  return worker;
}

/** SIGKILLs the worker unless it already ended, and waits (bounded) for it to exit. */
export async function killWorker(worker: Worker): Promise<void> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL");
  await withTimeout(worker.exited, KILL_TIMEOUT_MS, "a killed worker did not exit");
}

/** `work`, or a rejection saying `${what} within ${timeoutMs} ms` if it takes longer. */
export async function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const isLineOfType = (type: string) => (line: string) => line.startsWith(`{"type":"${type}"`);

/**
 * Starts one worker per options object, waits until every one printed `{"type":"ready"}`, releases
 * them all at once with a line on stdin (so their calls really contend instead of following
 * start-up order), waits for clean exits and returns each worker's `{"type":"summary",…}` line.
 * A worker that exits badly or prints no summary fails the test with its stderr.
 */
export async function runWorkersTogether<Summary>(
  workers: Worker[],
  script: string,
  optionsPerWorker: readonly object[],
  timeouts: { startupMs: number; runMs: number },
): Promise<Summary[]> {
  const started = optionsPerWorker.map((options) => startWorker(workers, script, [JSON.stringify(options)]));
  await Promise.all(
    started.map((worker) =>
      worker.waitUntil(() => worker.lines.some(isLineOfType("ready")), timeouts.startupMs, "ready line"),
    ),
  );
  for (const worker of started) worker.child.stdin?.write("go\n");
  const exits = await withTimeout(
    Promise.all(started.map((worker) => worker.exited)),
    timeouts.runMs,
    "workers did not finish",
  );
  return started.map((worker, index) => {
    const exit = exits[index];
    if (exit?.code !== 0) {
      throw new Error(`worker ${index} exited with ${JSON.stringify(exit)}; stderr:\n${worker.stderr()}`);
    }
    const line = worker.lines.find(isLineOfType("summary"));
    if (line === undefined)
      throw new Error(`worker ${index} printed no summary; stderr:\n${worker.stderr()}`);
    return JSON.parse(line) as Summary;
  });
}
