import type { TrustConfig } from "../config.ts";
import type { GovernedRequest } from "../governed-request.ts";
import type { LedgerBalance } from "../ledger/ledger.ts";
import type { PolicyContext } from "./policy-rule.ts";

/**
 * Fields of the policy context that only describe the budget. A rule that reads one needs the
 * ledger's balance, and a rule that reads nothing else refuses as a budget refusal.
 */
export const BUDGET_FIELDS: ReadonlySet<string> = new Set([
  "budget",
  "budget_remaining",
  "budget_remaining_after",
  "budgetRemaining",
  "budgetRemainingAfterEstimate",
]);

/**
 * The parts of a checked model call that policy conditions see. Declared here rather than taken
 * from the preflight subject so the policy layer does not depend on the pipeline that uses it.
 */
export interface PolicyCall {
  request: GovernedRequest;
  holdUsertokens: number;
  maxOutputTokens: number;
  now: Date;
}

/**
 * What policy conditions can read. Engine-owned fields come first and caller metadata sits under
 * `metadata`, so a caller can never overwrite a field the engine computed. Fields have their
 * documented snake_case names; the camelCase names the first default policy used still resolve.
 */
export function policyContext(
  call: PolicyCall,
  balance: LedgerBalance | undefined,
  config: TrustConfig,
): PolicyContext {
  const { request, holdUsertokens, now } = call;
  let promptLength = 0;
  for (const part of request.promptParts) promptLength += part.length;
  const context: PolicyContext = {
    model: request.model,
    provider: request.provider,
    estimated_cost: holdUsertokens,
    tier: config.tier,
    scope: request.scope ?? [],
    actor: request.actor,
    tools: request.toolNames ?? [],
    tool_count: request.toolNames?.length ?? 0,
    message_count: request.messageCount ?? 0,
    prompt_length: promptLength,
    max_output_tokens: call.maxOutputTokens,
    // Read only by the rules that name them: local-time arithmetic is the costliest part of a context.
    get hour() {
      return now.getHours();
    },
    get day_of_week() {
      return now.getDay();
    },
    get time() {
      return now.toISOString();
    },
    metadata: request.metadata ?? {},
    estimatedCost: holdUsertokens,
    messageCount: request.messageCount ?? 0,
    promptLength,
  };
  // Without a balance no rule reads these fields (the balance is read whenever one does, or they
  // are added where the rules that read them run: addBudgetFields).
  return balance === undefined ? context : addBudgetFields(context, balance, holdUsertokens);
}

/** Gives a context built without a balance its budget fields (the rules that read them run later). */
export function addBudgetFields(
  context: PolicyContext,
  balance: LedgerBalance,
  holdUsertokens: number,
): PolicyContext {
  return Object.assign(
    context,
    budgetFields(balance.budgetUsertokens, balance.remainingUsertokens, holdUsertokens),
  );
}

/**
 * The BUDGET_FIELDS of the policy context, snake_case and camelCase: all a rule that reads only
 * the budget needs.
 */
export function budgetFields(budget: number, remaining: number, holdUsertokens: number): PolicyContext {
  return {
    budget,
    budget_remaining: remaining,
    budget_remaining_after: remaining - holdUsertokens,
    budgetRemaining: remaining,
    budgetRemainingAfterEstimate: remaining - holdUsertokens,
  };
}
