import { AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import type { AgentMiddleware } from "langchain";
import type { Engine } from "../../core/engine.ts";
import { ToolDeniedError } from "../../core/errors.ts";
import {
  receiptJson,
  type SurfaceOptions,
  surfaceContext,
  surfaceEngine,
  surfaceSettings,
} from "../../core/surface/shared-engine.ts";
import { callerContext } from "../../core/surface/trust-context.ts";
import { openLangChainCall, releaseCall, settleMessage } from "./governed-call.ts";
import { RECEIPT_KEY } from "./governed-chat-model.ts";
import { identify } from "./messages-request.ts";

export interface AgentMiddlewareOptions extends SurfaceOptions {
  /** A refused tool call: answered with a ToolMessage the agent reads ("message", default) or thrown ("throw"). */
  onToolDenied?: "message" | "throw";
}

/**
 * Middleware for langchain's createAgent: each model call is held and settled (the receipt on the
 * AIMessage's `response_metadata.usertrust`), and each tool call goes through the policy gate and
 * the board (a refusal becomes a ToolMessage the agent can read, or an error). Per-invocation
 * context: `agent.invoke(input, { context: { usertrust: { scope, actor, metadata } } })`.
 */
export function usertrustAgentMiddleware(options: AgentMiddlewareOptions | Engine = {}): AgentMiddleware {
  const settings: AgentMiddlewareOptions = surfaceSettings(options);
  const engine = surfaceEngine(settings);
  const defaults = surfaceContext(settings);
  const middleware = {
    name: "usertrust",
    wrapModelCall: async (
      request: {
        model: unknown;
        messages: BaseMessage[];
        systemMessage?: BaseMessage;
        tools?: unknown;
        runtime?: { context?: unknown };
      },
      // An AIMessage, or with responseFormat `{ structuredResponse, messages }` (typed loosely by langchain too).
      handler: (request: never) => Promise<unknown>,
    ): Promise<AIMessage> => {
      // createAgent always supplies a system message, empty when none was given: it is not part of the prompt.
      const system = request.systemMessage;
      const hasSystem =
        system !== undefined && !(typeof system.content === "string" && system.content === "");
      const prompt = hasSystem ? [system, ...request.messages] : request.messages;
      const context = (request.runtime?.context as Record<string, unknown> | undefined)?.[RECEIPT_KEY];
      const call = await openLangChainCall(
        await engine(),
        settings,
        defaults,
        identify(request.model),
        prompt,
        context,
        request.tools,
      );
      const sent =
        call.messages === prompt ? request : { ...request, ...splitPrompt(call.messages, hasSystem) };
      let result: unknown;
      try {
        result = await handler(sent as never);
      } catch (error) {
        await releaseCall(call.hold, error);
        throw error;
      }
      // The model's reply: the handler's AIMessage, or (with responseFormat) the last AIMessage of
      // the `{ structuredResponse, messages }` it returns, which must reach the agent unchanged.
      const message = modelMessageOf(result);
      const receipt = receiptJson(await settleMessage(call, message));
      if (message === undefined) return result as AIMessage;
      call.restore?.(message);
      const receipted = new AIMessage({
        content: message.content,
        tool_calls: message.tool_calls ?? [],
        ...(message.usage_metadata === undefined ? {} : { usage_metadata: message.usage_metadata }),
        ...(message.id === undefined ? {} : { id: message.id }),
        additional_kwargs: message.additional_kwargs,
        response_metadata: { ...message.response_metadata, [RECEIPT_KEY]: receipt },
      });
      if (result === message) return receipted;
      const { messages } = result as { messages: unknown[] };
      return {
        ...(result as object),
        messages: messages.map((each) => (each === message ? receipted : each)),
      } as unknown as AIMessage;
    },
    wrapToolCall: async (
      request: { toolCall: { id?: string; name: string; args: unknown }; runtime?: { context?: unknown } },
      handler: (request: never) => Promise<unknown>,
    ): Promise<unknown> => {
      const context = (request.runtime?.context as Record<string, unknown> | undefined)?.[RECEIPT_KEY] as
        | { actor?: string; scope?: string | string[]; metadata?: Record<string, unknown> }
        | undefined;
      // withTrustContext around the run, then the run's own context, over the middleware's defaults.
      const base = callerContext(defaults);
      const scope = context?.scope ?? base.scope;
      const decision = await (await engine()).reviewToolCall({
        toolName: request.toolCall.name,
        input: request.toolCall.args,
        actor: context?.actor ?? base.actor,
        scope: typeof scope === "string" ? [scope] : scope,
        metadata: { ...base.metadata, ...context?.metadata },
      });
      if (decision.approved) return handler(request as never);
      const reason = decision.reason ?? "refused";
      if (settings.onToolDenied === "throw") throw new ToolDeniedError(request.toolCall.name, reason);
      return new ToolMessage({
        content: `Denied by usertrust: ${reason}`,
        tool_call_id: request.toolCall.id ?? "",
        name: request.toolCall.name,
        status: "error",
      });
    },
  };
  return middleware as unknown as AgentMiddleware;
}

function splitPrompt(
  messages: BaseMessage[],
  hasSystem: boolean,
): { messages: BaseMessage[]; systemMessage?: BaseMessage } {
  if (!hasSystem) return { messages };
  const [system, ...rest] = messages;
  return system === undefined ? { messages: rest } : { messages: rest, systemMessage: system };
}

/** The AIMessage a model call produced: the handler's result, or the last one in its `messages`. */
function modelMessageOf(result: unknown): AIMessage | undefined {
  if (AIMessage.isInstance(result)) return result;
  const messages = (result as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages)) return undefined;
  for (let index = messages.length - 1; index >= 0; index--) {
    if (AIMessage.isInstance(messages[index])) return messages[index] as AIMessage;
  }
  return undefined;
}
