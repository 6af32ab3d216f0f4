import type { AgentAction, AgentFinish } from "@langchain/core/agents";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { Serialized } from "@langchain/core/load/serializable";
import { AIMessageChunk, type BaseMessage } from "@langchain/core/messages";
import type { ChatGenerationChunk, GenerationChunk, LLMResult } from "@langchain/core/outputs";
import type { Engine } from "../../core/engine.ts";
import { ToolDeniedError } from "../../core/errors.ts";
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
import { type CallSettlement, openLangChainCall, releaseCall, settleMessage } from "./governed-call.ts";
import { RECEIPT_KEY } from "./governed-chat-model.ts";
import { type OpenRun, RunBook } from "./run-book.ts";
import { lastNamed, StreamMeter } from "./stream-meter.ts";

export { FINISHED_RUNS_MAX } from "./run-book.ts";

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
  readonly #runs = new RunBook();
  /**
   * Settles a model run whose LangChain run manager was collected before the run ended. It holds
   * the run itself, not its id: a caller may give a later run the same id, which is not this one.
   */
  readonly #abandoned = new FinalizationRegistry<{ runId: string; run: OpenRun }>(({ runId, run }) => {
    void this.#settleStreamed(runId, run);
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
    this.#endOpen(runId);
  }

  override async handleChainError(_error: unknown, runId: string): Promise<void> {
    this.#endOpen(runId);
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
    this.#endOpen(runId);
  }

  override async handleRetrieverError(_error: unknown, runId: string): Promise<void> {
    this.#endOpen(runId);
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
    const run = this.#start(runId, parentRunId, call);
    // A consumer that breaks out of model.stream() gets LangChain to send neither an end nor an
    // error: the run just stops. `tags` is the run manager's own array (it passes the same one to
    // every token, end and error), so once it is collected nothing can report on the run any more,
    // and its hold is settled at what it streamed.
    if (Array.isArray(tags)) this.#abandoned.register(tags, { runId, run }, run);
  }

  /**
   * A streamed chunk: metered (its text, usage and metadata, and the tier and model it names) so a
   * run that never ends can be settled at it, and a run that ends is priced at the names it streamed.
   */
  override async handleLLMNewToken(
    token: string,
    _index: unknown,
    runId: string,
    _parentRunId?: string,
    _tags?: string[],
    fields?: { chunk?: ChatGenerationChunk | GenerationChunk },
  ): Promise<void> {
    const run = this.#runs.get(runId);
    if (run?.call === undefined) return;
    const chunk = fields?.chunk;
    run.streamed ??= new StreamMeter();
    run.streamed.observe(
      chunk !== undefined && "message" in chunk ? chunk.message : new AIMessageChunk(token),
      chunk?.generationInfo,
    );
  }

  /**
   * Settles every model run that has streamed and not ended at what it streamed, and forgets it:
   * for streams a consumer broke out of, without waiting for LangChain's run to be collected. A
   * stream still being read is cut short too (its later chunks go unpaid), so call it once the
   * streams made with this handler are done with, e.g. when a request that used it returns.
   */
  async settleOpenStreams(): Promise<TrustReceipt[]> {
    const streaming = this.#runs.streaming();
    const receipts = await Promise.all(streaming.map(([runId, run]) => this.#settleStreamed(runId, run)));
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

  /**
   * Settles the run at the message LangChain joined for it. A stream's joined metadata concatenates
   * strings that chunks repeat (the tier and model @langchain/openai names on each choice's last
   * chunk): they are read as the stream last named them (see lastNamed).
   */
  override async handleLLMEnd(output: LLMResult, runId: string): Promise<void> {
    const run = this.#runs.get(runId);
    const call = takeCall(run);
    if (run === undefined || call === undefined) return;
    // With raiseError a throw here would fail a call the provider already answered: never throw.
    try {
      const generation = output.generations[0]?.[0] as
        | { message?: BaseMessage; generationInfo?: unknown }
        | undefined;
      const message = lastNamed(generation?.message, generation?.generationInfo, run.streamed);
      const receipt = await settleMessage(call, message);
      const metadata = (generation?.message as { response_metadata?: Record<string, unknown> } | undefined)
        ?.response_metadata;
      if (metadata !== undefined) metadata[RECEIPT_KEY] = receiptJson(receipt);
      this.#runs.roll(runId, run, receipt);
    } catch {
      // The receipt records a failed settle itself; nothing to add here.
    } finally {
      this.#end(runId, run);
    }
  }

  // A stream that fails or is aborted after delivering text (streamEvents v2 reports a consumer's
  // break as an AbortError) pays for what it delivered, as governedChatModel's streams do.
  override async handleLLMError(error: unknown, runId: string): Promise<void> {
    const run = this.#runs.get(runId);
    if (run?.streamed !== undefined) {
      await this.#settleStreamed(runId, run);
      return;
    }
    const call = takeCall(run);
    if (run !== undefined) this.#end(runId, run);
    if (call !== undefined) await releaseCall(call.hold, error);
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
    this.#endOpen(runId);
  }

  override async handleToolError(_error: unknown, runId: string): Promise<void> {
    this.#endOpen(runId);
  }

  /**
   * Every model call's receipt under `runId` (a chain or agent invocation, or a lone model call),
   * and their summed cost: for a run still open, and for the last FINISHED_RUNS_MAX root runs
   * (runs with no parent) after they end. Any other run id has none.
   */
  totals(runId: string): { cost: number; calls: number; receipts: TrustReceipt[] } {
    return this.#runs.totals(runId);
  }

  /**
   * Opens a run. A run still open under the same id (a caller gave LangChain the same
   * RunnableConfig.runId again, say after breaking out of a stream) can no longer be told apart
   * from the new one by its callbacks: a model run is settled at once at what it streamed (having
   * streamed nothing, at its prompt), so its hold is not left pending.
   */
  #start(runId: string, parentRunId: string | undefined, call?: CallSettlement): OpenRun {
    const { run, replaced } = this.#runs.start(runId, parentRunId, call);
    if (replaced !== undefined) void this.#settleStreamed(runId, replaced);
    return run;
  }

  /**
   * Settles a model run at what it streamed (at least that text's estimate, whatever usage its
   * first chunks reported), rolls the receipt up and forgets the run; never throws. `run` is the
   * run itself: one that has been replaced under its id is still settled, and the new one untouched.
   */
  async #settleStreamed(runId: string, run: OpenRun): Promise<TrustReceipt | undefined> {
    const call = takeCall(run);
    if (call === undefined) return undefined;
    try {
      const receipt = await settleMessage(call, run.streamed?.message(), undefined, true);
      this.#runs.roll(runId, run, receipt);
      return receipt;
    } catch {
      // The receipt records a failed settle itself; nothing to add here.
      return undefined;
    } finally {
      this.#end(runId, run);
    }
  }

  /** Forgets the run open under `runId`, if any. */
  #endOpen(runId: string): void {
    const run = this.#runs.get(runId);
    if (run !== undefined) this.#end(runId, run);
  }

  /** Forgets `run` (if it is still the one open under `runId`) and stops watching for its collection. */
  #end(runId: string, run: OpenRun): void {
    this.#abandoned.unregister(run);
    this.#runs.end(runId, run);
  }
}

/**
 * Takes a model run's call to settle or release it: after this no other path (an end, an error, a
 * finalizer, settleOpenStreams) finds it, so none settles it again while this one awaits.
 */
function takeCall(run: OpenRun | undefined): CallSettlement | undefined {
  const call = run?.call;
  if (run !== undefined) run.call = undefined;
  return call;
}

const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parseInput(input: string): unknown {
  try {
    return JSON.parse(input);
  } catch {
    return input;
  }
}
