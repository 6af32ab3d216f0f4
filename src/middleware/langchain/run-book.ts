import type { TrustReceipt } from "../../core/receipt.ts";
import type { CallSettlement } from "./governed-call.ts";
import type { StreamMeter } from "./stream-meter.ts";

/**
 * How many finished root runs `totals()` still answers for, the oldest forgotten first. A handler
 * set once on a long-lived model sees every call of the process, so what it keeps must not grow
 * with them; a run's totals are read right after its invocation returns.
 */
export const FINISHED_RUNS_MAX = 100;

/**
 * How many runs may be open at once, the oldest forgotten first. LangChain ends every run it
 * starts except a stream its consumer breaks out of (which the handler settles when its run is
 * collected); this bounds what such runs leave behind.
 */
const OPEN_RUNS_MAX = 10_000;

/** A chain, tool, retriever or chat-model run between its start and its end or error. */
export interface OpenRun {
  parentRunId: string | undefined;
  /** Receipts of the model calls finished under this run so far. */
  receipts: TrustReceipt[];
  /**
   * A chat-model run's call (its hold), until it is settled or released. Whoever settles or
   * releases it takes it first, before any await, so that no other path can settle it too.
   */
  call: CallSettlement | undefined;
  /** What a streaming chat-model run has delivered so far (handleLLMNewToken), as settling reads it. */
  streamed: StreamMeter | undefined;
}

/**
 * The runs a callback handler has open and the receipts of recently finished root runs: what
 * `totals(runId)` answers from. Bounded: at most OPEN_RUNS_MAX open runs and FINISHED_RUNS_MAX
 * finished ones, the oldest forgotten first.
 */
export class RunBook {
  /** Runs started and not yet ended, oldest first. */
  readonly #open = new Map<string, OpenRun>();
  /** The receipts of recently finished root runs, oldest first. */
  readonly #finished = new Map<string, TrustReceipt[]>();

  get(runId: string): OpenRun | undefined {
    return this.#open.get(runId);
  }

  /**
   * Opens a run under `runId`. A caller may give LangChain the run id (RunnableConfig.runId) and
   * give it again: the run it replaces, still open, is returned, no longer in the book.
   */
  start(
    runId: string,
    parentRunId: string | undefined,
    call?: CallSettlement,
  ): { run: OpenRun; replaced: OpenRun | undefined } {
    const replaced = this.#open.get(runId);
    const run: OpenRun = { parentRunId, receipts: [], call, streamed: undefined };
    this.#open.delete(runId);
    this.#open.set(runId, run);
    if (this.#open.size > OPEN_RUNS_MAX) this.#open.delete(this.#open.keys().next().value as string);
    return { run, replaced };
  }

  /** Model runs that have streamed and are neither settled nor released. */
  streaming(): Array<[string, OpenRun]> {
    return [...this.#open].filter(([, run]) => run.streamed !== undefined && run.call !== undefined);
  }

  /**
   * Forgets `run` if it is still the run open under `runId` (a root run that made model calls
   * joins the finished window); a run replaced under its id, or forgotten, is left alone.
   */
  end(runId: string, run: OpenRun): void {
    if (this.#open.get(runId) !== run) return;
    this.#open.delete(runId);
    if (run.parentRunId === undefined && run.receipts.length > 0) this.#keepFinished(runId, run.receipts);
  }

  /**
   * Adds a model run's receipt to the run and every open run above it. An ancestor the handler
   * never saw start (the handler is on the model only) or saw end has no end to wait for: it is
   * credited in the finished window directly. A run no longer in the book (replaced under its id,
   * or forgotten) credits its parent; with none, whatever now answers for its id, so totals(runId)
   * still counts every call made under that id.
   */
  roll(runId: string, run: OpenRun, receipt: TrustReceipt): void {
    let id = this.#open.get(runId) === run ? runId : (run.parentRunId ?? runId);
    // An ancestry visits each open run at most once; the bound also ends a malformed cycle.
    for (let hops = 0; hops <= this.#open.size; hops++) {
      const open = this.#open.get(id);
      if (open === undefined) {
        const receipts = this.#finished.get(id) ?? [];
        receipts.push(receipt);
        this.#keepFinished(id, receipts);
        return;
      }
      open.receipts.push(receipt);
      if (open.parentRunId === undefined) return;
      id = open.parentRunId;
    }
  }

  /**
   * Every model call's receipt under `runId`, and their summed cost: for a run still open, and for
   * the last FINISHED_RUNS_MAX root runs after they end. Any other run id has none.
   */
  totals(runId: string): { cost: number; calls: number; receipts: TrustReceipt[] } {
    const receipts = [...(this.#open.get(runId)?.receipts ?? this.#finished.get(runId) ?? [])];
    return {
      cost: receipts.reduce((sum, receipt) => sum + receipt.cost, 0),
      calls: receipts.length,
      receipts,
    };
  }

  /** Stores a finished run's receipts as the most recent, dropping the oldest beyond FINISHED_RUNS_MAX. */
  #keepFinished(runId: string, receipts: TrustReceipt[]): void {
    this.#finished.delete(runId);
    this.#finished.set(runId, receipts);
    if (this.#finished.size > FINISHED_RUNS_MAX)
      this.#finished.delete(this.#finished.keys().next().value as string);
  }
}
