import type { LanguageModelV4, ProviderV4 } from "@ai-sdk/provider";
import { wrapLanguageModel, wrapProvider } from "ai";
import type { Engine } from "../../core/engine.ts";
import type { TrustReceipt } from "../../core/receipt.ts";
import { RECEIPT_KEY, type UsertrustMiddlewareOptions, usertrustMiddleware } from "./middleware.ts";

export {
  OutputCapError,
  RECEIPT_KEY,
  type UsertrustMiddlewareOptions,
  usertrustMiddleware,
} from "./middleware.ts";
export { usertrustToolApproval } from "./tool-approval.ts";

type AnyLanguageModel = Parameters<typeof wrapLanguageModel>[0]["model"];
type AnyProvider = Parameters<typeof wrapProvider>[0]["provider"];

/** One model, governed: `generateText({ model: governModel(openai("gpt-4o-mini"), { budget: 50_000 }), … })`. */
export function governModel(
  model: AnyLanguageModel,
  options: UsertrustMiddlewareOptions | Engine = {},
): LanguageModelV4 {
  return wrapLanguageModel({ model, middleware: usertrustMiddleware(options) });
}

/**
 * Every language model of a provider, governed; also the way to govern a provider registry:
 * `createProviderRegistry({ openai: governProvider(openai, opts), anthropic: governProvider(anthropic, opts) })`.
 */
export function governProvider(
  provider: AnyProvider,
  options: UsertrustMiddlewareOptions | Engine = {},
): ProviderV4 {
  return wrapProvider({ provider, languageModelMiddleware: usertrustMiddleware(options) });
}

/** The receipt of one step (or the last step of a result), from its `providerMetadata`. */
export function receiptOfStep(step: { providerMetadata?: unknown }): TrustReceipt | undefined {
  const metadata = step.providerMetadata as Record<string, unknown> | undefined;
  return metadata?.[RECEIPT_KEY] as TrustReceipt | undefined;
}

/** The total of a multi-step run: every step's receipt and their summed cost in usertokens. */
export function runTotal(steps: ReadonlyArray<{ providerMetadata?: unknown }>): {
  cost: number;
  calls: number;
  receipts: TrustReceipt[];
} {
  const receipts = steps
    .map(receiptOfStep)
    .filter((receipt): receipt is TrustReceipt => receipt !== undefined);
  return { cost: receipts.reduce((sum, receipt) => sum + receipt.cost, 0), calls: receipts.length, receipts };
}
