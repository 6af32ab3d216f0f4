import { UsertrustError } from "../core/errors.ts";
import type { TrustReceipt } from "../core/receipt.ts";

/**
 * A provider stream in the spec's shape. It is itself async-iterable and also carries `response`
 * (itself), `receipt` and `governance` (both the receipt promise), so both spec forms work:
 *   `for await (const c of stream) …; await stream.receipt`
 *   `const { response, governance } = await create(…); for await (const c of response) …; await governance`
 * The stream it wraps is already metered, so its hold settles on every terminal path (or is
 * released by destroy() if never read); the receipt resolves then.
 */
export class GovernedStream<Chunk> implements AsyncIterable<Chunk> {
  readonly receipt: Promise<TrustReceipt>;
  readonly #source: AsyncIterable<Chunk>;
  #iterated = false;

  constructor(source: AsyncIterable<Chunk>, receipt: Promise<TrustReceipt>) {
    this.#source = source;
    this.receipt = receipt;
    receipt.catch(() => {});
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
    return this.#source[Symbol.asyncIterator]();
  }
}
