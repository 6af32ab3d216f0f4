import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BudgetExceededError, HoldStateError } from "../../../src/core/errors.ts";
import type { Clock, HoldState, Ledger, LedgerBalance, PostResult } from "../../../src/core/ledger/ledger.ts";
import { ledgerAdapters } from "../../support/ledger-adapters.ts";

/**
 * Model-based tests: random command sequences run against a real adapter and against the small
 * reference model below, which is the ledger port's contract written as plainly as possible.
 * After every command the adapter must agree with the model, and the money invariants must hold
 * on the adapter's own numbers, independently of the model.
 */

const HOLD_IDS = ["a", "b", "c", "d", "e", "f"] as const;
const TIMEOUT_SECONDS_MAX = 120;

type Command =
  | { kind: "reserve"; id: string; amountUsertokens: number; timeoutSeconds: number }
  | { kind: "post"; id: string; amountUsertokens: number }
  /** Posts the hold's own amount shifted by `deltaUsertokens`, to land just above or below it. */
  | { kind: "postNearHold"; id: string; deltaUsertokens: number }
  | { kind: "void"; id: string }
  | { kind: "advance"; ms: number };

interface Scenario {
  budgetUsertokens: number;
  commands: Command[];
}

const holdId = fc.constantFrom(...HOLD_IDS);

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("reserve" as const),
      id: holdId,
      amountUsertokens: fc.integer({ min: 0, max: 600 }),
      timeoutSeconds: fc.integer({ min: 1, max: TIMEOUT_SECONDS_MAX }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("post" as const),
      id: holdId,
      amountUsertokens: fc.integer({ min: 0, max: 800 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("postNearHold" as const),
      id: holdId,
      deltaUsertokens: fc.integer({ min: -50, max: 50 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("void" as const), id: holdId }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 90_000 })),
    }),
  },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  budgetUsertokens: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 2_000 })),
  commands: fc.array(commandArb, { minLength: 1, maxLength: 40 }),
});

interface ModelHold {
  amount: number;
  expiresAtMs: number;
  state: HoldState;
  posted: number;
  shortfall: number;
  lateSettle: boolean;
}

type Outcome<T> = { ok: T } | { error: "budget"; needed: number; remaining: number } | { error: "holdState" };

/** The ledger contract, with no concern for speed, persistence or concurrency. */
class ReferenceLedger {
  readonly #holds = new Map<string, ModelHold>();
  #posted = 0;

  readonly budget: number;

  constructor(budget: number) {
    this.budget = budget;
  }

  amountOf(id: string): number | undefined {
    return this.#holds.get(id)?.amount;
  }

  reserve(id: string, amount: number, timeoutSeconds: number, now: number): Outcome<LedgerBalance> {
    if (!this.#holds.has(id)) {
      const free = this.budget - this.#posted - this.pending(now);
      if (free < amount) return { error: "budget", needed: amount, remaining: Math.max(0, free) };
      this.#holds.set(id, {
        amount,
        expiresAtMs: now + timeoutSeconds * 1000,
        state: "pending",
        posted: 0,
        shortfall: 0,
        lateSettle: false,
      });
    }
    return { ok: this.balance(now) };
  }

  post(id: string, amount: number, now: number): Outcome<PostResult> {
    const hold = this.#holds.get(id);
    if (hold === undefined) return { error: "holdState" };
    const state = this.state(id, now);
    if (state === "voided") return { error: "holdState" };
    if (state !== "posted") {
      hold.lateSettle = state === "expired";
      const free = this.budget - this.#posted - this.pending(now);
      const cap = hold.lateSettle ? Math.min(hold.amount, Math.max(0, free)) : hold.amount;
      hold.posted = Math.min(amount, cap);
      hold.shortfall = amount - hold.posted;
      hold.state = "posted";
      this.#posted += hold.posted;
    }
    return {
      ok: {
        postedUsertokens: hold.posted,
        shortfallUsertokens: hold.shortfall,
        lateSettle: hold.lateSettle,
        balance: this.balance(now),
        accounts: [],
      },
    };
  }

  void(id: string, now: number): Outcome<LedgerBalance> {
    const hold = this.#holds.get(id);
    if (hold === undefined || hold.state === "posted") return { error: "holdState" };
    hold.state = "voided";
    return { ok: this.balance(now) };
  }

  state(id: string, now: number): HoldState | undefined {
    const hold = this.#holds.get(id);
    if (hold?.state === "pending" && hold.expiresAtMs <= now) return "expired";
    return hold?.state;
  }

  pending(now: number): number {
    let sum = 0;
    for (const [id, hold] of this.#holds) if (this.state(id, now) === "pending") sum += hold.amount;
    return sum;
  }

  balance(now: number): LedgerBalance {
    const pending = this.pending(now);
    return {
      budgetUsertokens: this.budget,
      postedUsertokens: this.#posted,
      pendingUsertokens: pending,
      remainingUsertokens: Math.max(0, this.budget - this.#posted - pending),
    };
  }
}

async function outcomeOf<T>(call: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await call };
  } catch (error) {
    if (error instanceof BudgetExceededError) {
      return { error: "budget", needed: error.neededUsertokens, remaining: error.remainingUsertokens };
    }
    if (error instanceof HoldStateError) return { error: "holdState" };
    throw error;
  }
}

function expectMoneyInvariants(balance: LedgerBalance): void {
  const { budgetUsertokens: budget, postedUsertokens: posted, pendingUsertokens: pending } = balance;
  for (const amount of [budget, posted, pending, balance.remainingUsertokens]) {
    expect(Number.isSafeInteger(amount) && amount >= 0, `${amount} is a whole usertoken amount`).toBe(true);
  }
  expect(posted, "posted ≤ budget").toBeLessThanOrEqual(budget);
  expect(posted + pending, "posted + pending ≤ budget").toBeLessThanOrEqual(budget);
  expect(balance.remainingUsertokens, "remaining = max(0, budget − posted − pending)").toBe(
    Math.max(0, budget - posted - pending),
  );
}

/** Runs one scenario against a fresh ledger and checks it step by step. */
async function checkScenario(
  scenario: Scenario,
  openLedger: (budgetUsertokens: number, clock: Clock) => Ledger,
): Promise<void> {
  let nowMs = 1_700_000_000_000;
  const ledger = openLedger(scenario.budgetUsertokens, () => nowMs);
  const model = new ReferenceLedger(scenario.budgetUsertokens);
  /** The first answer to each hold's post: what a retry must repeat and what the total must add up to. */
  const firstPosts = new Map<string, { requested: number; held: number; result: PostResult }>();
  const reserved = new Set<string>();

  try {
    for (const command of scenario.commands) {
      switch (command.kind) {
        case "advance": {
          nowMs += command.ms;
          break;
        }
        case "reserve": {
          const { id, amountUsertokens, timeoutSeconds } = command;
          const expected = model.reserve(id, amountUsertokens, timeoutSeconds, nowMs);
          const actual = await outcomeOf(ledger.reserve(id, amountUsertokens, timeoutSeconds));
          expect(actual).toEqual(expected);
          if ("ok" in actual) {
            reserved.add(id);
            expectMoneyInvariants(actual.ok);
          }
          break;
        }
        case "post":
        case "postNearHold": {
          const { id } = command;
          const amountUsertokens =
            command.kind === "post"
              ? command.amountUsertokens
              : Math.max(0, (model.amountOf(id) ?? 0) + command.deltaUsertokens);
          const expected = model.post(id, amountUsertokens, nowMs);
          const actual = await outcomeOf(ledger.post(id, amountUsertokens));
          expect(actual).toEqual(expected);
          if ("ok" in actual) {
            const result = actual.ok;
            const held = model.amountOf(id) ?? 0;
            expect(result.postedUsertokens, "a post never exceeds its hold").toBeLessThanOrEqual(held);
            expectMoneyInvariants(result.balance);
            const first = firstPosts.get(id);
            if (first === undefined) {
              expect(result.postedUsertokens + result.shortfallUsertokens, "no cost silently dropped").toBe(
                amountUsertokens,
              );
              firstPosts.set(id, { requested: amountUsertokens, held, result });
            } else {
              expect(result.postedUsertokens).toBe(first.result.postedUsertokens);
              expect(result.shortfallUsertokens).toBe(first.result.shortfallUsertokens);
              expect(result.lateSettle).toBe(first.result.lateSettle);
            }
          }
          break;
        }
        case "void": {
          const expected = model.void(command.id, nowMs);
          const actual = await outcomeOf(ledger.void(command.id));
          expect(actual).toEqual(expected);
          if ("ok" in actual) expectMoneyInvariants(actual.ok);
          break;
        }
      }
      const balance = await ledger.balance();
      expectMoneyInvariants(balance);
      expect(balance).toEqual(model.balance(nowMs));
      for (const id of HOLD_IDS) expect(await ledger.holdState(id)).toBe(model.state(id, nowMs));
    }

    // Once the clock has passed every timeout, nothing is left in flight.
    nowMs += TIMEOUT_SECONDS_MAX * 1000 + 1;
    const settled = await ledger.balance();
    expectMoneyInvariants(settled);
    expect(settled.pendingUsertokens).toBe(0);
    for (const id of reserved) expect(["posted", "voided", "expired"]).toContain(await ledger.holdState(id));

    let postedTotal = 0;
    for (const { result } of firstPosts.values()) postedTotal += result.postedUsertokens;
    expect(settled.postedUsertokens, "the spend is exactly the sum of the posts").toBe(postedTotal);
  } finally {
    await ledger.close();
  }
}

const RUNS: Record<string, number> = { MemoryLedger: 300 };

describe.each(ledgerAdapters())("$name under random command sequences", (adapter) => {
  beforeAll(async () => adapter.setUp?.());
  afterAll(async () => adapter.tearDown?.());

  // Scenarios move the test's clock past hold timeouts; a store with its own time cannot follow.
  it.skipIf(adapter.keepsOwnTime)(
    "agrees with the reference model and never spends or holds above the budget",
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, (scenario) =>
          checkScenario(scenario, (budgetUsertokens, clock) => adapter.open({ budgetUsertokens, clock })),
        ),
        { numRuns: RUNS[adapter.name] ?? 60 },
      );
    },
  );
});
