import { AsyncLocalStorage } from "node:async_hooks";
import { UsertrustError } from "../core/errors.ts";
import type { TrustReceipt } from "../core/receipt.ts";
import { helperEnded, isAsyncIterable, isAsyncIterator, isEventStream, turnEnded } from "./helper-values.ts";

/**
 * The receipts of the governed model calls made on behalf of one value a user holds: a response,
 * a stream, or an SDK helper (a MessageStream, a tool runner, a chat) that makes its calls later.
 * Calls find the trail they belong to through AsyncLocalStorage, so helpers that call the SDK's
 * own create method internally are tracked without knowing how they are built.
 */
export class ReceiptTrail {
  readonly #parent: ReceiptTrail | undefined;
  readonly #owner: ReceiptTrail | undefined;
  readonly #receipts: Array<Promise<TrustReceipt>> = [];
  #waiters: Array<() => void> = [];
  #sealed = false;

  /**
   * `ambient`: the trail the caller is running under. A sealed one (and any sealed one above it)
   * is passed over: its helper has ended, so a call started now is not one of its calls.
   * `owner`: the trail of the conversation whose turn this trail's helper is (see
   * trailedConversation), which holds the turn's receipts too, whoever started the turn.
   */
  constructor(ambient: ReceiptTrail | undefined, owner?: ReceiptTrail) {
    let parent = ambient;
    while (parent?.sealed) parent = parent.#parent;
    this.#parent = parent;
    this.#owner = owner;
  }

  /**
   * Records one call's receipt (or its refusal) here and in every enclosing trail: the helpers
   * that were running when this trail was opened, sealed since or not, and the conversations
   * their turns belong to. Each trail records it once, however many ways lead to it.
   */
  record(receipt: Promise<TrustReceipt>): void {
    receipt.catch(() => {});
    const reached = new Set<ReceiptTrail>();
    const pending: ReceiptTrail[] = [this];
    for (let trail = pending.pop(); trail !== undefined; trail = pending.pop()) {
      if (reached.has(trail)) continue;
      reached.add(trail);
      trail.#add(receipt);
      if (trail.#parent !== undefined) pending.push(trail.#parent);
      if (trail.#owner !== undefined) pending.push(trail.#owner);
    }
  }

  /**
   * Marks this trail's helper as ended: every request it makes has started, and trails opened
   * later (by the caller's code, run in a context captured while the helper ran) do not nest here.
   */
  seal(): void {
    this.#sealed = true;
  }

  /** Whether this trail's helper has ended (see seal). */
  get sealed(): boolean {
    return this.#sealed;
  }

  #add(receipt: Promise<TrustReceipt>): void {
    this.#receipts.push(receipt);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Every receipt once all calls started so far have ended; waits for the first call if none began
   * yet. `ended` (a helper's own `done()`) settling before any call began ends the wait: with the
   * helper's error if it failed, else with NO_RECEIPT, so a helper that never called cannot hang us.
   */
  async all(ended?: Promise<unknown>): Promise<TrustReceipt[]> {
    if (this.#receipts.length === 0) {
      let wake: (() => void) | undefined;
      const outcome = await new Promise<{ failed: boolean; error?: unknown } | undefined>((settle) => {
        wake = () => settle(undefined);
        this.#waiters.push(wake);
        ended?.then(
          () => settle({ failed: false }),
          (error: unknown) => settle({ failed: true, error }),
        );
      });
      this.#waiters = this.#waiters.filter((waiter) => waiter !== wake);
      if (outcome !== undefined && this.#receipts.length === 0) {
        if (outcome.failed) throw outcome.error;
        throw new UsertrustError(
          "NO_RECEIPT",
          "the helper ended without making a governed model call, so there is no receipt for it.",
        );
      }
    }
    let seen = 0;
    while (seen !== this.#receipts.length) {
      seen = this.#receipts.length;
      await Promise.allSettled(this.#receipts);
    }
    return Promise.all(this.#receipts);
  }

  async last(ended?: Promise<unknown>): Promise<TrustReceipt> {
    const receipts = await this.all(ended);
    return receipts[receipts.length - 1] as TrustReceipt;
  }
}

const currentTrail = new AsyncLocalStorage<ReceiptTrail>();
const trails = new WeakMap<object, ReceiptTrail>();

/** A new trail nested in the one the caller is running under, if any and its helper has not ended. */
export function openTrail(): ReceiptTrail {
  return new ReceiptTrail(currentTrail.getStore());
}

/** Runs `work` so that every governed call it starts, now or later, records into `trail`. */
export function runInTrail<T>(trail: ReceiptTrail, work: () => T): T {
  return currentTrail.run(trail, work);
}

/**
 * Makes `receiptOf(value)` answer from `trail`; primitives cannot carry a receipt and are ignored.
 * `replace`: an outer trail (a helper's) takes over from the inner one of the call whose object it
 * returned, since it holds that call's receipt and every other one the helper made.
 */
export function attachTrail(value: unknown, trail: ReceiptTrail, replace = false): void {
  if ((typeof value === "object" && value !== null) || typeof value === "function") {
    if (replace || !trails.has(value)) trails.set(value, trail);
  }
}

/** Makes `receiptOf(to)` answer as `receiptOf(from)` does (a wrapper handed out in place of `from`). */
export function shareTrail(from: unknown, to: object): void {
  const trail = trailFor(from);
  if (trail !== undefined) attachTrail(to, trail);
}

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
    const trail = new ReceiptTrail(currentTrail.getStore(), options.owner);
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
 * destroy() aborts the request such a stream reads, and the stream then ends as aborted. The SDKs
 * raise an unhandled rejection for an abort nobody listens for, which a Node process with default
 * settings dies of; that abort is usertrust's, not the caller's, so a listener is added as
 * destroy() starts. The caller's own listeners still see `abort` and `end`.
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

/** For a conversation: when its latest turn has ended (see trailedConversation). */
const conversationEnds = new WeakMap<object, () => Promise<unknown>>();

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
  conversationEnds.set(conversation, () => turnEnded(latest));
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

function trailFor(value: unknown): ReceiptTrail | undefined {
  return (typeof value === "object" && value !== null) || typeof value === "function"
    ? trails.get(value)
    : undefined;
}

function trailOf(value: unknown): ReceiptTrail {
  const trail = trailFor(value);
  if (trail === undefined) {
    throw new UsertrustError(
      "NO_RECEIPT",
      "receiptOf() got a value that no governed call returned. Pass the response, stream or helper " +
        "object a client from trust() gave you (not a copy or a field of it).",
    );
  }
  return trail;
}

/**
 * The receipt of the governed call that produced `value` (for a helper that made several calls,
 * the last one), once that call has settled or been released. Rejects with the refusal when the
 * call was denied.
 */
export async function receiptOf(value: unknown): Promise<TrustReceipt> {
  return receiptOnceEnded(value);
}

/**
 * receiptOf, with `ended` settling once the value's work has ended (no first call to wait for
 * after it); by default a helper's own `done()`.
 */
export async function receiptOnceEnded(
  value: unknown,
  ended: Promise<unknown> | undefined = endedOf(value),
): Promise<TrustReceipt> {
  return trailOf(value).last(ended);
}

/** Every receipt of the governed calls behind `value`, in the order they started. */
export async function receiptsOf(value: unknown): Promise<TrustReceipt[]> {
  return trailOf(value).all(endedOf(value));
}

/** When the work behind `value` has ended, if that can be told: a conversation's latest turn, a helper's `done()`. */
function endedOf(value: unknown): Promise<unknown> | undefined {
  const conversationEnded =
    typeof value === "object" && value !== null ? conversationEnds.get(value) : undefined;
  return conversationEnded === undefined ? helperEnded(value) : conversationEnded();
}
