import { AsyncLocalStorage } from "node:async_hooks";
import { UsertrustError } from "../core/errors.ts";
import type { TrustReceipt } from "../core/receipt.ts";
import { helperEnded } from "./helper-values.ts";

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

/** The trail the caller is running under, if any. */
export function ambientTrail(): ReceiptTrail | undefined {
  return currentTrail.getStore();
}

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

/** For a conversation: when its latest turn has ended (see trailedConversation). */
const conversationEnds = new WeakMap<object, () => Promise<unknown>>();

/** Makes `receiptOf(conversation)` wait for `latestTurnEnded` (see trailedConversation). */
export function rememberConversationEnd(conversation: object, latestTurnEnded: () => Promise<unknown>): void {
  conversationEnds.set(conversation, latestTurnEnded);
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
