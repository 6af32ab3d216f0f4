/**
 * A process that takes the board's lock file once, stepped by the test through signal files in
 * `dir`, so a race between processes can be replayed in a chosen order:
 *
 *   node --experimental-strip-types board-lock-step.ts '<StepOptions as JSON>'
 *
 * Prints `started` before it asks for the lock. Once inside, creates `dir/inside` with O_EXCL and
 * prints whether it was alone inside.
 *
 * role "holder": waits inside for `dir/<name>-leave`, releases, prints `released`, and stays alive
 * (as a long-running server process would) until `dir/<name>-exit` exists.
 *
 * role "breaker": leaves at once, but is a process the OS deschedules while it breaks a stale lock:
 * it pauses right before it takes `<lock>.break` (prints `judged-stale`, waits for `dir/go-break`)
 * and right after (prints `breaking`, waits for `dir/go-remove`), and prints `removed` when it
 * unlinks the lock file of another holder. Nothing else is changed: the lock code is the library's.
 *
 * It exits on its own after LIFETIME_MS_MAX so a parent that died cannot leak it. Import only its
 * types: importing the module runs it.
 */
import fs, { closeSync, existsSync, openSync, unlinkSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { join } from "node:path";

export interface StepOptions {
  lockPath: string;
  dir: string;
  name: string;
  role: "holder" | "breaker";
}

const LIFETIME_MS_MAX = 40_000;
const options = JSON.parse(process.argv[2] ?? "") as StepOptions;
const lifetime = setTimeout(() => process.exit(3), LIFETIME_MS_MAX);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const say = (type: string, extra: object = {}): void => {
  fs.writeSync(1, `${JSON.stringify({ type, name: options.name, ...extra })}\n`);
};
let entered = false;
const waitFor = (signal: string): void => {
  const file = join(options.dir, signal);
  const until = Date.now() + LIFETIME_MS_MAX;
  while (!existsSync(file)) {
    if (Date.now() > until) process.exit(4);
    Atomics.wait(sleeper, 0, 0, 5);
  }
};

if (options.role === "breaker") {
  const open = fs.openSync;
  const unlink = fs.unlinkSync;
  fs.openSync = ((path: fs.PathLike, flags: fs.OpenMode, mode?: fs.Mode) => {
    if (!(String(path).endsWith(".break") && flags === "wx")) return open(path, flags, mode);
    say("judged-stale");
    waitFor("go-break");
    const fd = open(path, flags, mode);
    say("breaking");
    waitFor("go-remove");
    return fd;
  }) as typeof fs.openSync;
  fs.unlinkSync = ((path: fs.PathLike) => {
    unlink(path);
    if (String(path) === options.lockPath && !entered) say("removed");
  }) as typeof fs.unlinkSync;
  syncBuiltinESMExports();
}

const { withFileLock } = await import("../../../src/core/board/board-lock.ts");
const inside = join(options.dir, "inside");

say("started");
withFileLock(options.lockPath, () => {
  entered = true;
  let alone = true;
  try {
    closeSync(openSync(inside, "wx"));
  } catch {
    alone = false;
  }
  say("inside", { alone });
  if (options.role === "holder") waitFor(`${options.name}-leave`);
  if (alone) unlinkSync(inside);
});
say("released");
if (options.role === "holder") waitFor(`${options.name}-exit`);
clearTimeout(lifetime);
