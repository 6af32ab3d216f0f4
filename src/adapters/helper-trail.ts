import { AsyncLocalStorage } from "node:async_hooks";
import { isAsyncIterable, isAsyncIterator, isEventStream, turnEnded } from "./helper-values.ts";
import {
  ambientTrail,
  attachTrail,
  openTrail,
  ReceiptTrail,
  rememberConversationEnd,
  runInTrail,
} from "./receipt-trail.ts";

/**
 * The SDK helpers' receipts: their results (and the conversations they belong to) answer
 * `receiptOf` from the trail of every governed call the helper made, found through the
 * AsyncLocalStorage context the helper runs in.
 */

type ContextRunner = <T>(work: () => T) => T;

/** How a trailed helper lives with the client that made it. */
export interface HelperOptions {
  /** The client's destroy() hooks (CallContext.onDestroying): see emitOutsideTrail. */
  readonly onDestroying?: (hook: () => Promise<void>) => () => void;
  /** The trail of the conversation this helper is a turn of (see trailedConversation). */
  readonly owner?: ReceiptTrail;
}

/** Where a helper's code runs, and where the caller's code it calls back runs. */
interface HelperContexts {
  /** The helper's trail, and the caller's scope, actor and metadata (every AsyncLocalStorage). */
  call: ContextRunner;
  /** The caller's context as it was, without the trail. */
  caller: ContextRunner;
  onDestroying: HelperOptions["onDestroying"];
}

/**
 * Wraps an SDK method so that what it returns (or resolves to) answers `receiptOf`. Used for
 * helpers whose model calls happen inside the SDK: `messages.stream()`, `runTools()`, chats…
 * Calls an async iterator makes while it is read (Gemini's continuation and function-calling
 * streams open their requests lazily) are recorded on the same trail.
 *
 * A trail holds only the requests its own helper makes: the helper's event listeners run outside
 * it, and it is sealed once the helper has ended, where that can be told. A conversation driven by
 * events (each turn started from the previous stream's `end`) is then a row of separate trails,
 * not a chain of trails each holding every later turn.
 */
export function trailedMethod<A extends unknown[], R>(
  method: (...args: A) => R,
  options: HelperOptions = {},
): (...args: A) => R {
  return (...args: A): R => {
    const trail = new ReceiptTrail(ambientTrail(), options.owner);
    // Everything the helper does later — requests it starts while being read, possibly after the
    // caller's withTrustContext callback returned — runs in the context of this call.
    const contexts: HelperContexts = {
      call: runInTrail(trail, () => AsyncLocalStorage.snapshot()),
      caller: AsyncLocalStorage.snapshot(),
      onDestroying: options.onDestroying,
    };
    const result = contexts.call(() => method(...args));
    adopt(result, trail, contexts, true);
    // Only a plain promise is followed: subscribing to an SDK APIPromise would start parsing its body.
    if (result instanceof Promise && Object.getPrototypeOf(result) === Promise.prototype) {
      result.then(
        (value) => {
          adopt(value, trail, contexts, true);
          // A plain result (a response, a chat reply) arrives once every request behind it ended.
          if (!isEventStream(value) && !isAsyncIterable(value)) trail.seal();
        },
        () => trail.seal(),
      );
    }
    return result;
  };
}

/**
 * Makes `value` answer `receiptOf` from `trail` and run the helper's work in its call context.
 * `own`: `value` is the helper's result itself, so its end is the helper's end; an iterator made
 * from a helper that can be iterated again (a tool runner after a failure) is not.
 */
function adopt(value: unknown, trail: ReceiptTrail, contexts: HelperContexts, own: boolean): void {
  attachTrail(value, trail, true);
  if (typeof value !== "object" || value === null) return;
  const object = value as Record<string | symbol, unknown>;
  if (isEventStream(value)) emitOutsideTrail(object, trail, contexts);
  if (isAsyncIterator(value)) {
    stepInCallContext(object, trail, contexts.call, own);
    return;
  }
  // An async-iterable helper (a tool runner) makes its requests while it is iterated, also when
  // its own methods (runUntilDone, done) iterate it: its iterators run in the call's context too.
  const iterate = object[Symbol.asyncIterator];
  if (typeof iterate === "function") {
    object[Symbol.asyncIterator] = () => {
      const iterator = contexts.call(() => iterate.call(value));
      adopt(iterator, trail, contexts, false);
      return iterator;
    };
  }
}

/** Runs an async iterator's steps in the helper's context; with `sealAtEnd`, seals the trail once it ends. */
function stepInCallContext(
  iterator: Record<string | symbol, unknown>,
  trail: ReceiptTrail,
  call: ContextRunner,
  sealAtEnd: boolean,
): void {
  for (const step of ["next", "return", "throw"] as const) {
    const original = iterator[step];
    if (typeof original !== "function") continue;
    iterator[step] = (...stepArgs: unknown[]) => {
      const result = call(() => original.apply(iterator, stepArgs)) as Promise<IteratorResult<unknown>>;
      if (sealAtEnd) {
        Promise.resolve(result).then(
          (outcome) => {
            if (step !== "next" || outcome.done === true) trail.seal();
          },
          () => trail.seal(),
        );
      }
      return result;
    };
  }
}

/**
 * An SDK event stream (a MessageStream, a ChatCompletionStream, a runner) calls its listeners from
 * inside its own work, so in the trail's context. Listeners are the caller's code: they run in the
 * caller's context instead, or a turn started from one would be recorded as this helper's.
 * `end` (emitted after an error or abort too) is the helper's end.
 *
 * destroy() aborts the request such a stream reads: the stream then ends as aborted, or, when its
 * request had not been answered yet, with an error caused by ClientDestroyedError. The SDKs raise
 * an unhandled rejection for an abort or error nobody listens for, which a Node process with
 * default settings dies of; that ending is usertrust's, not the caller's, so listeners are added
 * as destroy() starts. The caller's own listeners, and the helper's promises (`done()`,
 * `finalMessage()`…), still see it.
 */
function emitOutsideTrail(
  stream: Record<string | symbol, unknown>,
  trail: ReceiptTrail,
  contexts: HelperContexts,
): void {
  const on = stream.on;
  const forget =
    typeof on === "function"
      ? contexts.onDestroying?.(async () => {
          on.call(stream, "abort", () => {});
          on.call(stream, "error", () => {});
        })
      : undefined;
  const emit = stream._emit as (...args: unknown[]) => unknown;
  stream._emit = (...args: unknown[]) => {
    if (args[0] === "end") {
      trail.seal();
      forget?.();
    }
    return contexts.caller(() => emit.apply(stream, args));
  };
}

/** The methods of a conversation object: those that run one turn, and those that return a new conversation. */
export interface ConversationMethods {
  readonly turns: readonly string[];
  readonly forks: readonly string[];
}

/**
 * Wraps an SDK method that returns a conversation the caller keeps and drives turn by turn (an
 * Anthropic message thread, whose `send()` and `stream()` run in the caller's context, long after
 * the method returned). Each turn is a helper call of its own, so `receiptOf(turnResult)` answers
 * for that turn, and the conversation's trail holds every turn's receipts, whoever started the
 * turn (the caller, or a tool runner over the conversation): `receiptOf(conversation)` is the
 * latest turn's receipt, and rejects with NO_RECEIPT when no turn made a call.
 */
export function trailedConversation<A extends unknown[], R>(
  method: (...args: A) => R,
  methods: ConversationMethods,
  options: HelperOptions = {},
): (...args: A) => R {
  return (...args: A): R => {
    const conversation = method(...args);
    if (typeof conversation === "object" && conversation !== null)
      trailTurns(conversation as Record<string, unknown>, methods, options);
    return conversation;
  };
}

function trailTurns(
  conversation: Record<string, unknown>,
  methods: ConversationMethods,
  options: HelperOptions,
): void {
  const trail = openTrail();
  attachTrail(conversation, trail, true);
  // A conversation runs one turn at a time, so only the latest can still be on its way to a call.
  let latest: unknown;
  rememberConversationEnd(conversation, () => turnEnded(latest));
  for (const name of methods.turns) {
    const turn = conversation[name];
    if (typeof turn !== "function") continue;
    const trailed = trailedMethod((...args: unknown[]) => turn.apply(conversation, args) as unknown, {
      ...options,
      owner: trail,
    });
    conversation[name] = (...args: unknown[]) => {
      latest = trailed(...args);
      return latest;
    };
  }
  for (const name of methods.forks) {
    const fork = conversation[name];
    if (typeof fork !== "function") continue;
    conversation[name] = trailedConversation(
      (...args: unknown[]) => fork.apply(conversation, args) as unknown,
      methods,
      options,
    );
  }
}
