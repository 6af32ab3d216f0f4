import { readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createBoard } from "../../../src/core/board/board.ts";
import { createEngine } from "../../../src/core/create-engine.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** Files under `folder` this process has open (Linux: /proc/self/fd). */
function openFilesUnder(folder: string): string[] {
  return readdirSync("/proc/self/fd")
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return "";
      }
    })
    .filter((target) => target.startsWith(folder));
}

const board = {
  enabled: true,
  vetoThreshold: "medium" as const,
  escalation: "allow" as const,
  maxHistory: 100,
};

describe("closing an engine whose board cannot write its session", () => {
  it.skipIf(process.platform !== "linux")(
    "still closes the ledger database and the audit log, then rejects with the board's error",
    async () => {
      const vault = makeTempVault({ budget: 100_000, board });
      cleanups.push(vault.cleanup);
      const engine = await createEngine({ vaultBase: vault.base, dryRun: true });
      await engine.reviewToolCall({ toolName: "search_docs", input: { q: "a" } });
      // The board folder stops being writable (here: it is no longer a folder; a full disk or a
      // read-only remount fail the same write).
      rmSync(join(vault.paths.root, "board"), { recursive: true });
      writeFileSync(join(vault.paths.root, "board"), "");

      const closing = await engine.close().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(closing).toMatchObject({ code: "BOARD_STORE_FAILED" });
      expect(openFilesUnder(vault.paths.root)).toEqual([]);
      await expect(engine.close()).rejects.toBe(closing);
    },
  );
});

describe("a closed board", () => {
  it("writes nothing once closed: flush() does not recreate a vault deleted after close()", () => {
    const vault = makeTempVault({ budget: 1_000 });
    cleanups.push(vault.cleanup);
    const closed = createBoard(vault.paths.root);
    closed.reviewNow("spend", "a", "call");
    closed.close();
    rmSync(vault.paths.root, { recursive: true });

    closed.flush();
    expect(() => closed.stats()).toThrow(expect.objectContaining({ code: "BOARD_CLOSED" }));
    expect(readdirSync(vault.base)).toEqual([]);
  });
});
