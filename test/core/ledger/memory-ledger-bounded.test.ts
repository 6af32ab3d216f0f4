import { describe, expect, it } from "vitest";
import { MemoryLedger } from "../../../src/core/ledger/memory-ledger.ts";
import { runGcWorker } from "../../support/gc-worker.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

describe("the dry-run (memory) ledger over a long run", () => {
  it("forgets old ended holds but replays recent ones, and keeps an expired hold for its late settle", async () => {
    let now = 0;
    const ledger = new MemoryLedger({ budgetUsertokens: 10_000_000, clock: () => now });
    await ledger.reserve("slow", 10, 1);
    now = 2_000; // "slow" expires while its call is still running
    for (let i = 0; i < 3_000; i++) {
      await ledger.reserve(`call-${i}`, 10, 60);
      await ledger.post(`call-${i}`, 7);
    }
    expect(await ledger.holdState("call-0"), "the oldest ended hold is forgotten").toBeUndefined();
    const replay = await ledger.post("call-2999", 7);
    expect(replay.postedUsertokens).toBe(7);
    expect((await ledger.balance()).postedUsertokens, "a replay posts nothing twice").toBe(3_000 * 7);
    const late = await ledger.post("slow", 9);
    expect(late).toMatchObject({ postedUsertokens: 9, lateSettle: true });
  });

  it("keeps the heap flat over 15,000 dry-run calls through trust()", async () => {
    const vault = makeTempVault({ budget: 1_000_000_000 });
    try {
      const { marks } = (await runGcWorker("dry-run-heap.ts", [vault.base, "15500"], 180_000)) as {
        marks: [number, number, number];
      };
      const perCall = (marks[2] - marks[0]) / 10_000;
      const shown = marks.map((mark) => (mark / 1e6).toFixed(2)).join(" / ");
      expect(perCall, `heap after 5k / 10k / 15k calls: ${shown} MB`).toBeLessThan(60);
    } finally {
      vault.cleanup();
    }
  }, 180_000);
});
