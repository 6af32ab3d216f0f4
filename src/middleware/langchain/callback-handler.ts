import type { AgentAction, AgentFinish } from "@langchain/core/agents";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { Serialized } from "@langchain/core/load/serializable";
import type { BaseMessage } from "@langchain/core/messages";
import type { LLMResult } from "@langchain/core/outputs";
import {
  parseContext,
  receiptJson,
  type SurfaceOptions,
  surfaceContext,
  surfaceEngine,
  surfaceSettings,
} from "../../adapters/shared-engine.ts";
import { callerContext } from "../../adapters/trust-context.ts";
import type { Engine } from "../../core/engine.ts";
import { ToolDeniedError } from "../../core/errors.ts";
import type { Hold } from "../../core/hold.ts";
import type { TrustReceipt } from "../../core/receipt.ts";
import { openLangChainCall, releaseCall, settleMessage } from "./governed-call.ts";
import { RECEIPT_KEY } from "./governed-chat-model.ts";

export interface CallbackHandlerOptions extends SurfaceOptions {
  /**
   * Make refusals stop the call (LangChain only honours a handler's throw when `raiseError` is
   * set through the constructor, which this does). Off by default: the handler then records and
   * charges, and a refusal is logged by LangChain without stopping the call.
   */
  blocking?: boolean;
}

/**
 * Governance as a LangChain callback handler, for any chain or model: each chat-model run is held
 * and settled — its `spend` (or `call_failed`) event is the llm_invoke record, the same event
 * trust() writes, so every surface leaves the same trail — each tool run is reviewed and recorded
 * as a `tool_call` event, each agent step as a `decision` event, and `totals(runId)` rolls up
 * every model call under a chain invocation.
 *
 * Its limits, by LangChain's design: `chatModel.streamEvents()` without a `version` runs no
 * callbacks, so it is not governed (use governedChatModel for an enforcement boundary); receipts
 * reach `invoke()` results but not chunks a stream has already yielded.
 */
export class UsertrustCallbackHandler extends BaseCallbackHandler {
  name = "UsertrustCallbackHandler";
  readonly #settings: CallbackHandlerOptions;
  readonly #engine: () => Promise<Engine>;
  readonly #holds = new Map<string, Hold>();
  readonly #parents = new Map<string, string>();
  readonly #receipts = new Map<string, TrustReceipt[]>();

  constructor(options: CallbackHandlerOptions | Engine = {}) {
    const settings: CallbackHandlerOptions = surfaceSettings(options);
    super({ raiseError: settings.blocking === true, _awaitHandler: true });
    this.#settings = settings;
    this.#engine = surfaceEngine(settings);
  }

  // @langchain/core 1.4 declares parentRunId as the 8th argument but passes it 4th
  // (chain, inputs, runId, parentRunId, tags, metadata, runType, runName): take whichever is a run id.
  override async handleChainStart(
    _chain: Serialized,
    _inputs: unknown,
    runId: string,
    fourth?: string,
    _tags?: string[],
    _metadata?: Record<string, unknown>,
    _runName?: string,
    eighth?: string,
  ): Promise<void> {
    const parentRunId = [fourth, eighth].find(
      (candidate) => candidate !== undefined && RUN_ID.test(candidate),
    );
    if (parentRunId !== undefined) this.#parents.set(runId, parentRunId);
  }

  override async handleChatModelStart(
    llm: Serialized,
    messages: BaseMessage[][],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): Promise<void> {
    if (parentRunId !== undefined) this.#parents.set(runId, parentRunId);
    const invocation = (extraParams?.invocation_params ?? {}) as Record<string, unknown>;
    const provider = String(metadata?.ls_provider ?? llm.id.at(-1) ?? "unknown");
    const model = String(metadata?.ls_model_name ?? invocation.model ?? invocation.model_name ?? "unknown");
    const cap = invocation.max_tokens ?? invocation.max_completion_tokens ?? metadata?.ls_max_tokens;
    const call = await openLangChainCall(
      await this.#engine(),
      this.#settings,
      surfaceContext(this.#settings),
      {
        provider: provider === "google_genai" ? "google" : provider,
        model,
        maxOutputTokens: typeof cap === "number" ? cap : undefined,
      },
      messages.flat(),
      metadata?.[RECEIPT_KEY],
    );
    this.#holds.set(runId, call.hold);
  }

  /** An agent chose its next step: recorded as a `decision` event (the tool it chose, never its reasoning text). */
  override async handleAgentAction(action: AgentAction, runId: string, parentRunId?: string): Promise<void> {
    await (await this.#engine()).recordEvent("decision", surfaceContext(this.#settings).actor, {
      runId,
      ...(parentRunId === undefined ? {} : { parentRunId }),
      action: "tool",
      tool: action.tool,
    });
  }

  /** An agent finished: recorded as a `decision` event. */
  override async handleAgentEnd(_action: AgentFinish, runId: string, parentRunId?: string): Promise<void> {
    await (await this.#engine()).recordEvent("decision", surfaceContext(this.#settings).actor, {
      runId,
      ...(parentRunId === undefined ? {} : { parentRunId }),
      action: "finish",
    });
  }

  override async handleLLMEnd(output: LLMResult, runId: string): Promise<void> {
    const hold = this.#take(runId);
    if (hold === undefined) return;
    // With raiseError a throw here would fail a call the provider already answered: never throw.
    try {
      const generation = output.generations[0]?.[0] as { message?: BaseMessage } | undefined;
      const receipt = await settleMessage(hold, generation?.message);
      const metadata = (generation?.message as { response_metadata?: Record<string, unknown> } | undefined)
        ?.response_metadata;
      if (metadata !== undefined) metadata[RECEIPT_KEY] = receiptJson(receipt);
      this.#roll(runId, receipt);
    } catch {
      // The receipt records a failed settle itself; nothing to add here.
    }
  }

  override async handleLLMError(error: unknown, runId: string): Promise<void> {
    const hold = this.#take(runId);
    if (hold !== undefined) await releaseCall(hold, error);
  }

  override async handleToolStart(
    tool: Serialized,
    input: string,
    runId: string,
    parentRunId?: string,
    _tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): Promise<void> {
    if (parentRunId !== undefined) this.#parents.set(runId, parentRunId);
    const toolName = runName ?? String(tool.id.at(-1) ?? "tool");
    const defaults = callerContext(surfaceContext(this.#settings));
    const call = parseContext(metadata?.[RECEIPT_KEY]);
    const scope = call.scope ?? defaults.scope;
    const decision = await (await this.#engine()).reviewToolCall({
      toolName,
      input: parseInput(input),
      actor: call.actor ?? defaults.actor,
      scope: typeof scope === "string" ? [scope] : scope,
      metadata: { ...defaults.metadata, ...call.metadata },
    });
    if (!decision.approved && this.#settings.blocking === true) {
      throw new ToolDeniedError(toolName, decision.reason ?? "refused");
    }
  }

  /** Every model call's receipt under `runId` (a chain or agent invocation), and their summed cost. */
  totals(runId: string): { cost: number; calls: number; receipts: TrustReceipt[] } {
    const receipts = this.#receipts.get(runId) ?? [];
    return {
      cost: receipts.reduce((sum, receipt) => sum + receipt.cost, 0),
      calls: receipts.length,
      receipts,
    };
  }

  #take(runId: string): Hold | undefined {
    const hold = this.#holds.get(runId);
    this.#holds.delete(runId);
    return hold;
  }

  /** Adds the receipt to the run and every run above it. */
  #roll(runId: string, receipt: TrustReceipt): void {
    for (let id: string | undefined = runId; id !== undefined; id = this.#parents.get(id)) {
      const list = this.#receipts.get(id) ?? [];
      list.push(receipt);
      this.#receipts.set(id, list);
    }
  }
}

const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parseInput(input: string): unknown {
  try {
    return JSON.parse(input);
  } catch {
    return input;
  }
}
