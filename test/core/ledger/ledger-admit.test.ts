import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BudgetExceededError, LedgerUnavailableError } from "../../../src/core/errors.ts";
import type { Ledger, LedgerBalance } from "../../../src/core/ledger/ledger.ts";
import { MemoryLedger } from "../../../src/core/ledger/memory-ledger.ts";
import { PostgresLedger } from "../../../src/core/ledger/postgres-ledger.ts";
import { SqliteLedger } from "../../../src/core/ledger/sqlite-ledger.ts";
import {
  dropSchema,
  requirePostgres,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "../../support/postgres-test-server.ts";

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
    expect(ledger.admits).toBe("inside");
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

/** The real PostgreSQL ledger whose next `failures` voids fail, as over a dropped connection. */
class FailingVoids extends PostgresLedger {
  failures = 0;
  override async void(holdId: string, withinCommit?: () => void): Promise<LedgerBalance> {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new LedgerUnavailableError("connection terminated unexpectedly (simulated)");
    }
    return super.void(holdId, withinCommit);
  }
}

describe("PostgresLedger: a check right after the reserve (admit)", () => {
  const schema = uniqueSchemaName();
  const opened: Ledger[] = [];
  let wallets = 0;
  beforeAll(requirePostgres);
  afterEach(async () => {
    for (const ledger of opened.splice(0)) await ledger.close();
  });
  afterAll(() => dropSchema(schema));

  function open(budget: number, walletId = `wallet-${++wallets}`): FailingVoids {
    const ledger = new FailingVoids({ url: TEST_POSTGRES_URL, schema, walletId, budgetUsertokens: budget });
    opened.push(ledger);
    return ledger;
  }

  const refuseAll = (seen: LedgerBalance[]) => (before: LedgerBalance) => {
    seen.push(before);
    throw new BudgetExceededError(1, before.remainingUsertokens);
  };

  it("sees the wallet without the new hold, and a hold it refuses is voided at once", async () => {
    const ledger = open(1_000);
    expect(ledger.admits).toBe("after");
    await ledger.reserve("first", 300, MINUTE_S);
    const seen: LedgerBalance[] = [];
    await expect(ledger.reserve("second", 200, MINUTE_S, [], refuseAll(seen))).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    expect(seen).toEqual([
      { budgetUsertokens: 1_000, postedUsertokens: 0, pendingUsertokens: 300, remainingUsertokens: 700 },
    ]);
    expect(await ledger.holdState("second")).toBe("voided");
    expect((await ledger.balance()).pendingUsertokens).toBe(300);
  });

  it("is not asked again for a hold that already exists, which stays pending", async () => {
    const ledger = open(1_000);
    await ledger.reserve("h1", 100, MINUTE_S);
    const seen: LedgerBalance[] = [];
    await ledger.reserve("h1", 100, MINUTE_S, [], refuseAll(seen));
    expect(seen).toEqual([]);
    expect(await ledger.holdState("h1")).toBe("pending");
  });

  it("runs on the numbers the refusing reserve saw, so its own refusal is the one thrown", async () => {
    const ledger = open(1_000);
    await ledger.reserve("first", 900, MINUTE_S);
    const ruleRefusal = new Error("a rule refused");
    const seen: LedgerBalance[] = [];
    const admit = (before: LedgerBalance): void => {
      seen.push(before);
      throw ruleRefusal;
    };
    await expect(ledger.reserve("second", 200, MINUTE_S, [], admit)).rejects.toBe(ruleRefusal);
    expect(seen).toEqual([
      { budgetUsertokens: 1_000, postedUsertokens: 0, pendingUsertokens: 900, remainingUsertokens: 100 },
    ]);
    expect(await ledger.holdState("second")).toBeUndefined();
  });

  it("retries a void that fails once, so the refused call still holds nothing", async () => {
    const ledger = open(1_000);
    ledger.failures = 1;
    await expect(ledger.reserve("h1", 200, MINUTE_S, [], refuseAll([]))).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    expect((await ledger.balance()).pendingUsertokens).toBe(0);
  });

  it("voids a refused hold it could not void then before the next reserve", async () => {
    const ledger = open(1_000);
    ledger.failures = 2;
    await expect(ledger.reserve("h1", 800, MINUTE_S, [], refuseAll([]))).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    expect((await ledger.balance()).pendingUsertokens).toBe(800);
    // 800 would leave no room for 500: it is voided first, so this hold fits.
    await ledger.reserve("h2", 500, MINUTE_S);
    expect(await ledger.holdState("h1")).toBe("voided");
    expect((await ledger.balance()).pendingUsertokens).toBe(500);
  });

  it("voids a refused hold it could not void then when it closes", async () => {
    const walletId = `wallet-${++wallets}`;
    const ledger = open(1_000, walletId);
    ledger.failures = 2;
    await expect(ledger.reserve("h1", 800, MINUTE_S, [], refuseAll([]))).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    await ledger.close();
    const reader = open(1_000, walletId);
    expect((await reader.balance()).pendingUsertokens).toBe(0);
  });
});
