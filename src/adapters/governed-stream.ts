import { UsertrustError } from "../core/errors.ts";
import type { Hold } from "../core/hold.ts";
import type { TrustReceipt } from "../core/receipt.ts";
import type { Usage } from "../core/usage.ts";

/** What a provider adapter tells the stream wrapper about each chunk. */
export interface StreamMeter<Chunk> {
  /** Sees every chunk in order; returns false to keep a chunk from the consumer (one we asked for ourselves). */
  observe(chunk: Chunk): boolean;
  /** The provider-reported usage seen so far (the latest snapshot, never a sum of snapshots), if any. */
  usage(): Usage | undefined;
  /** UTF-8 bytes of output received, for an estimate when no usage arrives. */
  outputBytes(): number;
}

/**
 * A provider stream under governance. It is itself async-iterable and also carries `response`
 * (itself), `receipt` and `governance` (both the receipt promise), so both spec forms work:
 *   `for await (const c of stream) …; await stream.receipt`
 *   `const { response, governance } = await create(…); for await (const c of response) …; await governance`
 * The hold settles on every terminal path — completion, `break`, a mid-stream error — at what was
 * consumed; when no usage arrived it settles on an estimate and the receipt says so.
 */
export class GovernedStream<Chunk> implements AsyncIterable<Chunk> {
  readonly receipt: Promise<TrustReceipt>;
  readonly #source: AsyncIterable<Chunk>;
  readonly #meter: StreamMeter<Chunk>;
  readonly #hold: Hold;
  #iterated = false;

  constructor(source: AsyncIterable<Chunk>, meter: StreamMeter<Chunk>, hold: Hold) {
    this.#source = source;
    this.#meter = meter;
    this.#hold = hold;
    this.receipt = hold.receipt;
  }

  get governance(): Promise<TrustReceipt> {
    return this.receipt;
  }

  get response(): this {
    return this;
  }

  /** The SDK stream's AbortController, when it has one: aborting it ends the stream and settles the hold. */
  get controller(): AbortController | undefined {
    return (this.#source as { controller?: AbortController }).controller;
  }

  [Symbol.asyncIterator](): AsyncIterator<Chunk> {
    if (this.#iterated) {
      throw new UsertrustError(
        "STREAM_CONSUMED",
        "This governed stream was already iterated; a stream can be read once.",
      );
    }
    this.#iterated = true;
    const chunks = this.#chunks();
    let started = false;
    // A generator closed before its first next() never runs its finally, so closing early is
    // handled here: the request is aborted and the hold settles on what was consumed (nothing).
    const closeUnstarted = async (): Promise<void> => {
      if (started) return;
      started = true;
      this.controller?.abort();
      await this.#settle();
    };
    return {
      next: () => {
        started = true;
        return chunks.next();
      },
      return: async (value?: unknown) => {
        await closeUnstarted();
        return chunks.return(value);
      },
      throw: async (error?: unknown) => {
        await closeUnstarted();
        return chunks.throw(error);
      },
    };
  }

  async *#chunks(): AsyncGenerator<Chunk> {
    try {
      for await (const chunk of this.#source) {
        if (this.#meter.observe(chunk)) yield chunk;
      }
    } finally {
      await this.#settle();
    }
  }

  async #settle(): Promise<void> {
    const usage = this.#meter.usage();
    const settling = usage ? this.#hold.settle(usage) : this.#hold.settleEstimated(this.#meter.outputBytes());
    // A settle failure surfaces on `receipt`; it must not replace the stream's own outcome.
    await settling.catch(() => {});
  }
}
