import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Ledger, LedgerBalance } from "../../../src/core/ledger/ledger.ts";
import { MemoryLedger } from "../../../src/core/ledger/memory-ledger.ts";
import { SqliteLedger } from "../../../src/core/ledger/sqlite-ledger.ts";

const MINUTE_S = 60;
const dir = mkdtempSync(join(tmpdir(), "usertrust-admit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
const adapters: Array<[string, (budget: number) => Ledger]> = [
  ["MemoryLedger", (budget) => new MemoryLedger({ budgetUsertokens: budget })],
  [
    "SqliteLedger",
    (budget) => new SqliteLedger({ path: join(dir, `admit-${++count}.db`), budgetUsertokens: budget }),
  ],
];

describe.each(adapters)("%s: a check inside the reserve (admit)", (_name, open) => {
  it("sees the wallet without the new hold, and a refusal holds nothing", async () => {
    const ledger = open(1_000);
    expect(ledger.admitsInReserve).toBe(true);
    await ledger.reserve("first", 300, MINUTE_S);
    const seen: LedgerBalance[] = [];
    const refusal = new Error("a rule refused");
    await expect(
      ledger.reserve("second", 200, MINUTE_S, [], (before) => {
        seen.push(before);
        throw refusal;
      }),
    ).rejects.toBe(refusal);
    expect(seen).toEqual([
      { budgetUsertokens: 1_000, postedUsertokens: 0, pendingUsertokens: 300, remainingUsertokens: 700 },
    ]);
    expect(await ledger.holdState("second")).toBeUndefined();
    expect((await ledger.balance()).pendingUsertokens).toBe(300);
    await ledger.close();
  });

  it("is not asked again for a hold that already exists (an idempotent retry)", async () => {
    const ledger = open(1_000);
    await ledger.reserve("h1", 100, MINUTE_S, [], () => {});
    let asked = 0;
    await ledger.reserve("h1", 100, MINUTE_S, [], () => {
      asked++;
      throw new Error("must not run");
    });
    expect(asked).toBe(0);
    await ledger.close();
  });
});
