import { fsync } from "node:fs";

/**
 * Power-loss durability without one fsync per call: callers that committed while a flush was
 * running wait for the next one, so N concurrent commits share one fsync per file.
 */
export class GroupCommit {
  readonly #fds: number[];
  #running: Promise<void> | null = null;
  #queued: Promise<void> | null = null;

  constructor(fds: number[]) {
    this.#fds = fds;
  }

  /** Resolves once everything written before this call is on stable storage. */
  sync(): Promise<void> {
    if (this.#queued) return this.#queued;
    if (this.#running === null) return this.#start();
    // The running flush may have started before our write reached the file: wait for the next one.
    this.#queued = this.#running.then(
      () => this.#start(),
      () => this.#start(),
    );
    return this.#queued;
  }

  #start(): Promise<void> {
    this.#queued = null;
    const flush = Promise.all(this.#fds.map(fsyncFd)).then(() => undefined);
    this.#running = flush;
    const clear = (): void => {
      if (this.#running === flush) this.#running = null;
    };
    flush.then(clear, clear);
    return flush;
  }
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
}
