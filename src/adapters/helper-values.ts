// What a value returned by an SDK method is (a promise, an event-emitting helper, an async
// iterable) and when its work has ended, as far as the SDK lets that be told.

/** When a turn's work has ended: a helper's `done()`, a request's promise; now for no turn. */
export function turnEnded(turn: unknown): Promise<unknown> {
  const ended = helperEnded(turn);
  if (ended !== undefined) return ended;
  const settled = Promise.resolve(isThenable(turn) ? turn : undefined);
  settled.catch(() => {});
  return settled;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function"
  );
}

export function isEventStream(value: unknown): boolean {
  return (
    typeof value === "object" && value !== null && typeof (value as { _emit?: unknown })._emit === "function"
  );
}

export function isAsyncIterable(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
  );
}

export function isAsyncIterator(value: unknown): value is AsyncIterator<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { next?: unknown }).next === "function" &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
  );
}

/**
 * When a helper finishes, for the SDK helpers that say so with `done()` (streams and runners).
 * Asked only when the caller wants a receipt: `done()` counts as someone handling the helper's
 * error, which the helper's failure then reaches through receiptOf instead.
 */
export function helperEnded(value: unknown): Promise<unknown> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const done = (value as { done?: unknown }).done;
  if (typeof done !== "function") return undefined;
  try {
    const ended = Promise.resolve(done.call(value));
    ended.catch(() => {});
    return ended;
  } catch (error) {
    const failed = Promise.reject(error);
    failed.catch(() => {});
    return failed;
  }
}
