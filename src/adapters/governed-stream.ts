import { ClientDestroyedError, UsertrustError } from "../core/errors.ts";
import type { TrustReceipt } from "../core/receipt.ts";

/**
 * A provider stream in the spec's shape. It is itself async-iterable and also carries `response`
 * (itself), `receipt` and `governance` (both the receipt promise), so both spec forms work:
 *   `for await (const c of stream) …; await stream.receipt`
 *   `const { response, governance } = await create(…); for await (const c of response) …; await governance`
 * The stream it wraps is already metered, so its holds settle on every terminal path. The receipt
 * resolves once iteration has ended (completed, broken out of, or failed) — a stream may open
 * further requests while it is read (Gemini's continuation and function calling) — or, for a
 * stream never read, once its hold has ended (destroy() aborts its request and settles the hold at
 * the prompt estimate).
 */
export class GovernedStream<Chunk> implements AsyncIterable<Chunk> {
  readonly receipt: Promise<TrustReceipt>;
  readonly #source: AsyncIterable<Chunk>;
  readonly #ended: () => void;
  #iterated = false;

  /**
   * `onDestroyed` tells when the client is destroyed. A stream that opens its request lazily
   * (Gemini's function calling) and was never read made no call, so has no hold to void and no
   * receipt: its receipt then rejects with ClientDestroyedError instead of waiting for a call that
   * cannot come.
   */
  constructor(
    source: AsyncIterable<Chunk>,
    /** The stream's receipt; with `ended`, one that gives up waiting for a first call once it settles. */
    receiptOf: (ended?: Promise<unknown>) => Promise<TrustReceipt>,
    onDestroyed: (hook: () => void) => () => void,
  ) {
    this.#source = source;
    let ended!: () => void;
    const iterationEnded = new Promise<void>((resolve) => {
      ended = resolve;
    });
    this.#ended = ended;
    const unread = receiptOf().then((receipt) =>
      this.#iterated ? new Promise<TrustReceipt>(() => {}) : receipt,
    );
    let noCallMade!: (error: Error) => void;
    const noCall = new Promise<TrustReceipt>((_, reject) => {
      noCallMade = reject;
    });
    // Holds ended by destroy() resolve `unread` before destroy() returns; one macrotask later, the
    // receipt of a stream still unread and still pending belongs to a stream that made no call.
    const forget = onDestroyed(() =>
      setImmediate(() => {
        if (!this.#iterated) noCallMade(new ClientDestroyedError());
      }),
    );
    // Iteration that ended without the stream making any call (a lazy Gemini stream closed before
    // its first read) has no receipt: NO_RECEIPT then, instead of waiting for a call.
    this.receipt = Promise.race([iterationEnded.then(() => receiptOf(iterationEnded)), unread, noCall]);
    this.receipt.then(forget, forget);
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
    const chunks = this.#source[Symbol.asyncIterator]();
    const ended = this.#ended;
    const observe = async (step: Promise<IteratorResult<Chunk>>): Promise<IteratorResult<Chunk>> => {
      try {
        const result = await step;
        if (result.done === true) ended();
        return result;
      } catch (error) {
        ended();
        throw error;
      }
    };
    return {
      next: () => observe(chunks.next()),
      return: async (value?: unknown) => {
        try {
          return (await chunks.return?.(value)) ?? { done: true, value: undefined };
        } finally {
          ended();
        }
      },
      throw: async (error?: unknown) => {
        try {
          if (chunks.throw === undefined) throw error;
          return await chunks.throw(error);
        } finally {
          ended();
        }
      },
    };
  }
}
