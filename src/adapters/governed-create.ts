import type { Engine } from "../core/engine.ts";
import type { GovernedRequest } from "../core/governed-request.ts";
import type { Hold } from "../core/hold.ts";
import type { TrustReceipt } from "../core/receipt.ts";
import type { Usage } from "../core/usage.ts";
import { GovernedStream, type StreamMeter } from "./governed-stream.ts";

export type CreateFn = (body: unknown, options?: unknown) => PromiseLike<unknown>;

export interface TrustedResponse<T> {
  response: T;
  /** The same receipt under both names the spec uses. */
  receipt: TrustReceipt;
  governance: TrustReceipt;
}

/** What one provider method needs translated; everything else about governing a call is shared. */
export interface CreateTranslation {
  toGoverned(body: unknown): GovernedRequest;
  isStream(body: unknown): boolean;
  /** The body actually sent for a stream (e.g. asking for usage) and the meter that reads it. */
  streamRequest(body: unknown): { sent: unknown; meter: StreamMeter<never> };
  usageOf(response: unknown): Usage | undefined;
  outputBytesOf(response: unknown): number;
}

/**
 * Governs one SDK create method: authorize (which may refuse), forward, then settle at the
 * reported usage or void on failure. SDK-internal retries stay inside one forward, so they are
 * one logical call with one hold.
 */
export function governCreate(create: CreateFn, engine: () => Engine, translation: CreateTranslation) {
  return async function governedCreate(body: unknown, options?: unknown): Promise<unknown> {
    const hold = await engine().authorize(translation.toGoverned(body));
    if (translation.isStream(body)) {
      const { sent, meter } = translation.streamRequest(body);
      const source = await forward(create, sent, options, hold);
      return new GovernedStream(source as AsyncIterable<never>, meter, hold);
    }
    const response = await forward(create, body, options, hold);
    const usage = translation.usageOf(response);
    const receipt = usage
      ? await hold.settle(usage)
      : await hold.settleEstimated(translation.outputBytesOf(response));
    const trusted: TrustedResponse<unknown> = { response, receipt, governance: receipt };
    return trusted;
  };
}

/** Calls the SDK; if it throws, the hold is voided (nothing was delivered) and the SDK's own error surfaces. */
async function forward(create: CreateFn, body: unknown, options: unknown, hold: Hold): Promise<unknown> {
  try {
    return await (options === undefined ? create(body) : create(body, options));
  } catch (error) {
    await hold.void(`the provider call failed: ${describeError(error)}`).catch(() => {});
    throw error;
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { status?: unknown }).status;
    return typeof status === "number" ? `${error.name} (HTTP ${status})` : error.name;
  }
  return typeof error;
}
