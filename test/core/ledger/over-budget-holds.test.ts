import type { Client } from "tigerbeetle-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BudgetExceededError } from "../../../src/core/errors.ts";
import type { Ledger } from "../../../src/core/ledger/ledger.ts";
import { TigerBeetleLedger } from "../../../src/core/ledger/tigerbeetle-ledger.ts";
import { ledgerAdapters } from "../../support/ledger-adapters.ts";
import { TigerBeetleModel } from "../../support/tigerbeetle-model.ts";

/**
 * The ledger port refuses a hold when budget − posted − pending < amount, and that number may be
 * negative: a budget lowered below what was already spent. Then every hold is refused, even one of
 * 0 UT (a call on a model the config prices at 0). TigerBeetle's spendable account stops at 0, so
 * the cluster itself would accept a 0 UT pending transfer; the adapter must refuse it from the
 * numbers its reserve reads anyway.
 */

const MINUTE_S = 60;
let nowMs = 1_700_000_000_000;
const clock = (): number => nowMs;
const opened: Ledger[] = [];

afterEach(async () => {
  for (const ledger of opened.splice(0)) await ledger.close();
});

async function outcomeOf(reserve: Promise<unknown>): Promise<string> {
  try {
    await reserve;
    return "granted";
  } catch (error) {
    return error instanceof BudgetExceededError
      ? `refused: ${error.remainingUsertokens} UT remain in ${error.account ?? "the wallet"}`
      : String(error);
  }
}

for (const adapter of ledgerAdapters()) {
  describe(`${adapter.name}: holds on a budget lowered below what it spent`, () => {
    beforeAll(async () => adapter.setUp?.());
    afterAll(async () => adapter.tearDown?.());

    function open(budgetUsertokens: number): Ledger {
      const ledger = adapter.open({ budgetUsertokens, clock });
      opened.push(ledger);
      return ledger;
    }

    it("refuses a 0 UT hold on the wallet, and grants it again once the budget is raised", async () => {
      const ledger = open(100);
      await ledger.reserve("spent", 80, MINUTE_S);
      await ledger.post("spent", 80);
      await ledger.setBudget(50);
      nowMs += 1;
      expect(await outcomeOf(ledger.reserve("free-call", 0, MINUTE_S))).toBe(
        "refused: 0 UT remain in the wallet",
      );
      expect(await outcomeOf(ledger.reserve("paid-call", 1, MINUTE_S))).toBe(
        "refused: 0 UT remain in the wallet",
      );

      await ledger.setBudget(80);
      expect(await outcomeOf(ledger.reserve("free-call", 0, MINUTE_S))).toBe("granted");
      expect(await ledger.holdState("free-call")).toBe("pending");
    });

    it("refuses a 0 UT hold on a scoped budget account lowered below what it spent", async () => {
      const ledger = open(10_000);
      await ledger.reserve("spent", 80, MINUTE_S, [{ id: "team", limitUsertokens: 100 }]);
      await ledger.post("spent", 80);
      nowMs += 1;
      const lowered = [{ id: "team", limitUsertokens: 50 }];
      expect(await outcomeOf(ledger.reserve("free-call", 0, MINUTE_S, lowered))).toBe(
        "refused: 0 UT remain in team",
      );
      expect(await ledger.holdState("free-call")).toBeUndefined();
    });

    it("treats a retried reserve of a hold placed before the budget fell as the no-op it is", async () => {
      const ledger = open(100);
      await ledger.reserve("held", 0, MINUTE_S);
      await ledger.reserve("spent", 80, MINUTE_S);
      await ledger.post("spent", 80);
      await ledger.setBudget(50);
      expect(await outcomeOf(ledger.reserve("held", 0, MINUTE_S))).toBe("granted");
      expect(await ledger.holdState("held")).toBe("pending");
    });
  });
}

/** The model behind a proxy that counts requests: on a real cluster each one is a network round trip. */
function countingClient(model: TigerBeetleModel): { client: Client; requests: () => number } {
  let requests = 0;
  const client = new Proxy(model, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (REQUESTS.has(String(property))) requests += 1;
        return value.apply(target, args);
      };
    },
  });
  return { client, requests: () => requests };
}
const REQUESTS = new Set(["createAccounts", "createTransfers", "lookupAccounts", "lookupTransfers"]);

describe("TigerBeetleLedger deciding refusals from the numbers its reserve reads", () => {
  it("adds no request to a granted reserve, and refuses in two", async () => {
    const model = new TigerBeetleModel(clock);
    const counting = countingClient(model);
    const ledger = new TigerBeetleLedger({
      addresses: ["model"],
      clusterId: 0,
      budgetUsertokens: 100,
      clock,
      client: counting.client,
    });
    opened.push(ledger);
    await ledger.reserve("first", 10, MINUTE_S);

    let before = counting.requests();
    await ledger.reserve("granted", 0, MINUTE_S);
    expect(counting.requests() - before).toBe(2);

    await ledger.setBudget(5);
    before = counting.requests();
    expect(await outcomeOf(ledger.reserve("refused", 0, MINUTE_S))).toBe(
      "refused: 0 UT remain in the wallet",
    );
    expect(counting.requests() - before).toBe(2);
  });
});
