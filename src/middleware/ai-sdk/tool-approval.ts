import type { ToolApprovalStatus } from "ai";
import { surfaceEngine, surfaceSettings } from "../../adapters/shared-engine.ts";
import type { Engine } from "../../core/engine.ts";
import type { UsertrustMiddlewareOptions } from "./middleware.ts";

/**
 * A `toolApproval` function for generateText / streamText / agents: every tool call the model asks
 * for goes through the policy gate (rules on `tool_name` / `tool_args`) and the board, and is
 * recorded as a `tool_call` audit event. A refusal answers `{ type: "denied", reason }`, so the
 * model receives an execution-denied tool result instead of the run crashing.
 *
 *   generateText({ model, tools, toolApproval: usertrustToolApproval({ scope: "production" }) })
 */
export function usertrustToolApproval(options: UsertrustMiddlewareOptions | Engine = {}) {
  const settings = surfaceSettings(options);
  const engine = surfaceEngine(settings);
  const scope = typeof settings.scope === "string" ? [settings.scope] : settings.scope;
  return async ({
    toolCall,
  }: {
    toolCall: { toolName: string; input: unknown };
  }): Promise<ToolApprovalStatus> => {
    const decision = await (await engine()).reviewToolCall({
      toolName: toolCall.toolName,
      input: toolCall.input,
      actor: settings.actor,
      scope,
      metadata: settings.metadata,
    });
    return decision.approved
      ? "approved"
      : { type: "denied", ...(decision.reason === undefined ? {} : { reason: decision.reason }) };
  };
}
