import type { BaseMessage } from "@langchain/core/messages";
import type { TrustReceipt } from "../../core/receipt.ts";
import { RECEIPT_KEY } from "./governed-chat-model.ts";

export { ToolDeniedError } from "../../core/errors.ts";
export { type AgentMiddlewareOptions, usertrustAgentMiddleware } from "./agent-middleware.ts";
export { type CallbackHandlerOptions, UsertrustCallbackHandler } from "./callback-handler.ts";
export { GovernedChatModel, governedChatModel, RECEIPT_KEY } from "./governed-chat-model.ts";

/** The roll-up of an agent run or a conversation: every AI message's receipt and their summed cost. */
export function runTotal(messages: readonly BaseMessage[]): {
  cost: number;
  calls: number;
  receipts: TrustReceipt[];
} {
  const receipts: TrustReceipt[] = [];
  for (const message of messages) {
    const receipt = (message as { response_metadata?: Record<string, unknown> }).response_metadata?.[
      RECEIPT_KEY
    ];
    if (receipt !== undefined) receipts.push(receipt as TrustReceipt);
  }
  return { cost: receipts.reduce((sum, receipt) => sum + receipt.cost, 0), calls: receipts.length, receipts };
}
