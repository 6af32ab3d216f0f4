import type { ToolApprovalStatus } from "ai";
import type { Engine } from "../../core/engine.ts";
import {
  surfaceCallOptions,
  surfaceContext,
  surfaceEngine,
  surfaceSettings,
} from "../../core/surface/shared-engine.ts";
import { callerContext } from "../../core/surface/trust-context.ts";
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
  const defaults = surfaceContext(settings);
  const callOptions = surfaceCallOptions(settings);
  return async ({
    toolCall,
    tools,
    toolsContext,
    messages,
  }: {
    toolCall: { toolName: string; toolCallId?: string; input: unknown };
    tools?: Record<string, unknown> | undefined;
    toolsContext?: unknown;
    messages?: unknown;
  }): Promise<ToolApprovalStatus> => {
    // withTrustContext around the run applies to its tool calls as to its model calls.
    const { scope, actor, metadata } = callerContext(defaults);
    const decision = await (await engine()).reviewToolCall(
      {
        toolName: toolCall.toolName,
        input: toolCall.input,
        actor,
        scope: typeof scope === "string" ? [scope] : scope,
        metadata,
      },
      callOptions,
    );
    if (!decision.approved) {
      return { type: "denied", ...(decision.reason === undefined ? {} : { reason: decision.reason }) };
    }
    // A toolApproval function replaces the tools' own needsApproval in ai 7: what governance allows
    // still waits for the person a tool asks for.
    return (await toolAsksForApproval(toolCall, tools, toolsContext, messages))
      ? "user-approval"
      : "approved";
  };
}

/** The tool's own `needsApproval` (a flag, or a function of the input), as the SDK would read it. */
async function toolAsksForApproval(
  toolCall: { toolName: string; toolCallId?: string; input: unknown },
  tools: Record<string, unknown> | undefined,
  toolsContext: unknown,
  messages: unknown,
): Promise<boolean> {
  const tool =
    tools !== undefined && Object.hasOwn(tools, toolCall.toolName) ? tools[toolCall.toolName] : undefined;
  const needsApproval = (tool as { needsApproval?: unknown } | undefined)?.needsApproval;
  if (typeof needsApproval !== "function") return needsApproval === true;
  const context = (toolsContext as Record<string, unknown> | undefined)?.[toolCall.toolName];
  return (
    (await needsApproval(toolCall.input, { toolCallId: toolCall.toolCallId, messages, context })) === true
  );
}
