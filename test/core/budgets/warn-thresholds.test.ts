import { describe, expect, it } from "vitest";
import { budgetAlerts } from "../../../src/core/budgets/budget-alerts.ts";
import { scopedHolds } from "../../../src/core/budgets/scoped-budgets.ts";
import { parseConfig } from "../../../src/core/config.ts";

/*
 * README "Scoped budgets": "the settle that crosses a threshold writes one `budget_threshold` audit
 * event". A warnAt list that names one threshold twice (or two fractions that are the same
 * threshold once rounded to basis points) is accepted by the config, and then one crossing writes
 * two events.
 */
describe("warnAt thresholds: one crossing, one event", () => {
  it("warnAt [0.8, 0.8] is refused by the config or yields one budget_threshold record", () => {
    let config: ReturnType<typeof parseConfig> | undefined;
    try {
      config = parseConfig(
        JSON.stringify({ budget: 100_000, budgets: [{ scope: "**", limit: 100, warnAt: [0.8, 0.8] }] }),
        "config.json",
      );
    } catch {
      return; // refusing the duplicate is also fine
    }
    const scoped = scopedHolds(config.budgets, undefined, Date.UTC(2026, 2, 9));
    const account = scoped[0]?.account.id as string;
    const balance = {
      budgetUsertokens: 100,
      postedUsertokens: 85,
      pendingUsertokens: 0,
      remainingUsertokens: 15,
    };
    const alerts = budgetAlerts(
      {
        postedUsertokens: 10,
        shortfallUsertokens: 0,
        lateSettle: false,
        balance: { ...balance, budgetUsertokens: 100_000, remainingUsertokens: 99_915 },
        accounts: [{ id: account, balance }],
      } as never,
      [],
      scoped,
    );
    expect(alerts.crossings).toHaveLength(1);
  });
});
