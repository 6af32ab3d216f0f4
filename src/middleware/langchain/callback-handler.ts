import type { AgentAction, AgentFinish } from "@langchain/core/agents";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { Serialized } from "@langchain/core/load/serializable";
import { AIMessageChunk, type BaseMessage } from "@langchain/core/messages";
import type { ChatGenerationChunk, GenerationChunk, LLMResult } from "@langchain/core/outputs";
import type { Engine } from "../../core/engine.ts";
import { ToolDeniedError } from "../../core/errors.ts";
import type { Hold } from "../../core/hold.ts";
import type { TrustReceipt } from "../../core/receipt.ts";
import {
  parseContext,
  receiptJson,
  type SurfaceOptions,
  surfaceContext,
  surfaceEngine,
  surfaceSettings,
} from "../../core/surface/shared-engine.ts";
import { callerContext } from "../../core/surface/trust-context.ts";
import { meteredPart, openLangChainCall, releaseCall, settleMessage } from "./governed-call.ts";
import { RECEIPT_KEY } from "./governed-chat-model.ts";

/**
 * How many finished root runs `totals()` still answers for, the oldest forgotten first. A handler
 * set once on a long-lived model sees every call of the process, so what it keeps must not grow
 * with them; a run's totals are read right after its invocation returns.
 */
export const FINISHED_RUNS_MAX = 100;

/**
 * How many runs may be open at once, the oldest forgotten first. LangChain ends every run it
 * starts except a stream its consumer breaks out of (settled when its run is collected, see
 * handleChatModelStart); this bounds what such runs leave behind.
 */
const OPEN_RUNS_MAX = 10_000;

/** A chain, tool, retriever or chat-model run between its start and its end or error. */
interface OpenRun {
  parentRunId: string | undefined;
  /** Receipts of the model calls finished under this run so far. */
  receipts: TrustReceipt[];
  /** A chat-model run's hold, until it settles or is released. */
  hold: Hold | undefined;
  /** What a streaming chat-model run has delivered so far (handleLLMNewToken), as settling reads it. */
  streamed: AIMessageChunk | undefined;
}

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
 * every model call under a chain invocation: while it runs, and after it ends for the last
 * FINISHED_RUNS_MAX root runs. A run's state is dropped when it ends, so a handler that lives as
 * long as the process keeps a bounded amount.
 *
 * A stream the consumer breaks out of gets no end and no error from LangChain; its hold is settled
 * at what the handler saw streamed once LangChain's run is garbage collected, or at once by
 * `settleOpenStreams()`.
 *
 * Its limits, by LangChain's design: `chatModel.streamEvents()` without a `version` runs no
 * callbacks, so it is not governed (use governedChatModel for an enforcement boundary); receipts
 * reach `invoke()` results but not chunks a stream has already yielded.
 */
export class UsertrustCallbackHandler extends BaseCallbackHandler {
  name = "UsertrustCallbackHandler";
  readonly #settings: CallbackHandlerOptions;
  readonly #engine: () => Promise<Engine>;
  /** Runs started and not yet ended, oldest first; at most OPEN_RUNS_MAX. */
  readonly #open = new Map<string, OpenRun>();
  /** The receipts of recently finished root runs, oldest first; at most FINISHED_RUNS_MAX. */
  readonly #finished = new Map<string, TrustReceipt[]>();
  /** Settles a model run whose LangChain run manager was collected before the run ended. */
  readonly #abandoned = new FinalizationRegistry<string>((runId) => {
    void this.#settleStreamed(runId);
  });

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
    this.#start(runId, parentRunId);
  }

  override async handleChainEnd(_outputs: unknown, runId: string): Promise<void> {
    this.#end(runId);
  }

  override async handleChainError(_error: unknown, runId: string): Promise<void> {
    this.#end(runId);
  }

  // A retriever may call a model (a multi-query retriever): tracked so its calls roll up to the chain.
  override async handleRetrieverStart(
    _retriever: Serialized,
    _query: string,
    runId: string,
    parentRunId?: string,
  ): Promise<void> {
    this.#start(runId, parentRunId);
  }

  override async handleRetrieverEnd(_documents: unknown, runId: string): Promise<void> {
    this.#end(runId);
  }

  override async handleRetrieverError(_error: unknown, runId: string): Promise<void> {
    this.#end(runId);
  }

  override async handleChatModelStart(
    llm: Serialized,
    messages: BaseMessage[][],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
  ): Promise<void> {
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
        requestFields: invocation,
      },
      messages.flat(),
      metadata?.[RECEIPT_KEY],
      invocation.tools ?? invocation.functions,
    );
    // Only after authorize: LangChain sends no end or error for a run whose start threw.
    const run = this.#start(runId, parentRunId, call.hold);
    // A consumer that breaks out of model.stream() gets LangChain to send neither an end nor an
    // error: the run just stops. `tags` is the run manager's own array (it passes the same one to
    // every token, end and error), so once it is collected nothing can report on the run any more,
    // and its hold is settled at what it streamed.
    if (Array.isArray(tags)) this.#abandoned.register(tags, runId, run);
  }

  /** A streamed chunk: kept (its text, usage and metadata) so a run that never ends can be settled at it. */
  override async handleLLMNewToken(
    token: string,
    _index: unknown,
    runId: string,
    _parentRunId?: string,
    _tags?: string[],
    fields?: { chunk?: ChatGenerationChunk | GenerationChunk },
  ): Promise<void> {
    const run = this.#open.get(runId);
    if (run?.hold === undefined) return;
    const chunk = fields?.chunk;
    const part = meteredPart(
      chunk !== undefined && "message" in chunk ? chunk.message : new AIMessageChunk(token),
    );
    run.streamed = run.streamed === undefined ? part : run.streamed.concat(part);
  }

  /**
   * Settles every model run that has streamed and not ended at what it streamed, and forgets it:
   * for streams a consumer broke out of, without waiting for LangChain's run to be collected. A
   * stream still being read is cut short too (its later chunks go unpaid), so call it once the
   * streams made with this handler are done with, e.g. when a request that used it returns.
   */
  async settleOpenStreams(): Promise<TrustReceipt[]> {
    const streaming = [...this.#open].filter(
      ([, run]) => run.streamed !== undefined && run.hold !== undefined,
    );
    const receipts = await Promise.all(streaming.map(([runId]) => this.#settleStreamed(runId)));
    return receipts.filter((receipt) => receipt !== undefined);
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
    const hold = this.#open.get(runId)?.hold;
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
    } finally {
      this.#end(runId);
    }
  }

  // A stream that fails or is aborted after delivering text (streamEvents v2 reports a consumer's
  // break as an AbortError) pays for what it delivered, as governedChatModel's streams do.
  override async handleLLMError(error: unknown, runId: string): Promise<void> {
    if (this.#open.get(runId)?.streamed !== undefined) {
      await this.#settleStreamed(runId);
      return;
    }
    const hold = this.#end(runId)?.hold;
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
    this.#start(runId, parentRunId);
  }

  override async handleToolEnd(_output: unknown, runId: string): Promise<void> {
    this.#end(runId);
  }

  override async handleToolError(_error: unknown, runId: string): Promise<void> {
    this.#end(runId);
  }

  /**
   * Every model call's receipt under `runId` (a chain or agent invocation, or a lone model call),
   * and their summed cost: for a run still open, and for the last FINISHED_RUNS_MAX root runs
   * (runs with no parent) after they end. Any other run id has none.
   */
  totals(runId: string): { cost: number; calls: number; receipts: TrustReceipt[] } {
    const receipts = [...(this.#open.get(runId)?.receipts ?? this.#finished.get(runId) ?? [])];
    return {
      cost: receipts.reduce((sum, receipt) => sum + receipt.cost, 0),
      calls: receipts.length,
      receipts,
    };
  }

  #start(runId: string, parentRunId: string | undefined, hold?: Hold): OpenRun {
    const run: OpenRun = { parentRunId, receipts: [], hold, streamed: undefined };
    this.#open.set(runId, run);
    if (this.#open.size > OPEN_RUNS_MAX) this.#open.delete(this.#open.keys().next().value as string);
    return run;
  }

  /**
   * Settles an open model run at what it streamed (at least that text's estimate, whatever usage
   * its first chunks reported), rolls the receipt up and forgets the run; never throws.
   */
  async #settleStreamed(runId: string): Promise<TrustReceipt | undefined> {
    const run = this.#open.get(runId);
    const hold = run?.hold;
    if (run === undefined || hold === undefined) return undefined;
    // Claimed before the await: an end, error or finalizer arriving meanwhile finds nothing to settle.
    run.hold = undefined;
    try {
      const receipt = await settleMessage(hold, run.streamed, undefined, true);
      this.#roll(runId, receipt);
      return receipt;
    } catch {
      // The receipt records a failed settle itself; nothing to add here.
      return undefined;
    } finally {
      this.#end(runId);
    }
  }

  /** Forgets an ended run; a root run that made model calls joins the finished window. */
  #end(runId: string): OpenRun | undefined {
    const run = this.#open.get(runId);
    if (run === undefined) return undefined;
    this.#open.delete(runId);
    this.#abandoned.unregister(run);
    if (run.parentRunId === undefined && run.receipts.length > 0) this.#keepFinished(runId, run.receipts);
    return run;
  }

  /**
   * Adds the receipt to the run and every open run above it. An ancestor the handler never saw
   * start (the handler is on the model only) or saw end has no end to wait for: it is credited in
   * the finished window directly.
   */
  #roll(runId: string, receipt: TrustReceipt): void {
    let id = runId;
    // An ancestry visits each open run at most once; the bound also ends a malformed cycle.
    for (let hops = 0; hops <= this.#open.size; hops++) {
      const run = this.#open.get(id);
      if (run === undefined) {
        const receipts = this.#finished.get(id) ?? [];
        receipts.push(receipt);
        this.#keepFinished(id, receipts);
        return;
      }
      run.receipts.push(receipt);
      if (run.parentRunId === undefined) return;
      id = run.parentRunId;
    }
  }

  /** Stores a finished run's receipts as the most recent, dropping the oldest beyond FINISHED_RUNS_MAX. */
  #keepFinished(runId: string, receipts: TrustReceipt[]): void {
    this.#finished.delete(runId);
    this.#finished.set(runId, receipts);
    if (this.#finished.size > FINISHED_RUNS_MAX)
      this.#finished.delete(this.#finished.keys().next().value as string);
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
