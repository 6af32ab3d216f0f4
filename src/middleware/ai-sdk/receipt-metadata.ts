import type { JSONObject, SharedV4ProviderMetadata } from "@ai-sdk/provider";
import type { TrustReceipt } from "../../core/receipt.ts";
import { receiptJson } from "../../core/surface/shared-engine.ts";

/** The receipt's key in `providerMetadata`. */
export const RECEIPT_KEY = "usertrust";

/** The call's providerMetadata with its receipt, as JSON, under RECEIPT_KEY. */
export function withReceipt(
  metadata: SharedV4ProviderMetadata | undefined,
  receipt: TrustReceipt,
): SharedV4ProviderMetadata {
  return { ...metadata, [RECEIPT_KEY]: receiptJson(receipt) as JSONObject };
}
