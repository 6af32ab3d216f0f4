import type { TrustReceipt } from "../core/receipt.ts";
import type { GovernedStream } from "./governed-stream.ts";

export interface TrustedResponse<T> {
  response: T;
  /** The same receipt under both names the spec uses. */
  receipt: TrustReceipt;
  governance: TrustReceipt;
}

/** What a governed call resolves to in the spec shape: a stream stays a stream, anything else gains a receipt. */
type GovernedResult<T> = T extends AsyncIterable<infer Chunk> ? GovernedStream<Chunk> : TrustedResponse<T>;
type Governed<R> = Promise<GovernedResult<Awaited<R>>>;

/** Maps each overload (up to three, as the SDKs declare them) of an SDK method to its governed form. */
type GovernMethod<F> = F extends {
  (...args: infer A1): infer R1;
  (...args: infer A2): infer R2;
  (...args: infer A3): infer R3;
}
  ? ((...args: A1) => Governed<R1>) & ((...args: A2) => Governed<R2>) & ((...args: A3) => Governed<R3>)
  : F extends (...args: infer A) => infer R
    ? (...args: A) => Governed<R>
    : F;

/** `T` with the method at `T[K1][K2]` governed. */
type GovernAt2<T, K1 extends string, K2 extends string> = T extends { [P in K1]: { [Q in K2]: infer F } }
  ? Omit<T, K1> & { [P in K1]: Omit<T[K1], K2> & { [Q in K2]: GovernMethod<F> } }
  : T;

type OpenAISpec<T> = GovernAt2<GovernAt2<GovernChat<T>, "responses", "create">, "embeddings", "create">;
type GovernChat<T> = T extends { chat: { completions: { create: infer F } } }
  ? Omit<T, "chat"> & {
      chat: Omit<T["chat"], "completions"> & {
        completions: Omit<T["chat"]["completions"], "create"> & { create: GovernMethod<F> };
      };
    }
  : T;
type GovernBetaMessages<T> = T extends { beta: { messages: { create: infer F } } }
  ? Omit<T, "beta"> & {
      beta: Omit<T["beta"], "messages"> & {
        messages: Omit<T["beta"]["messages"], "create"> & { create: GovernMethod<F> };
      };
    }
  : T;
type AnthropicSpec<T> = GovernBetaMessages<GovernAt2<T, "messages", "create">>;
type GoogleSpec<T> = GovernAt2<
  GovernAt2<GovernAt2<T, "models", "generateContent">, "models", "generateContentStream">,
  "models",
  "embedContent"
>;

type SpecShaped<T> = GoogleSpec<AnthropicSpec<OpenAISpec<T>>>;

/** What every trusted client adds, whatever its shape. */
interface Destroyable {
  /**
   * Aborts every request still in flight and every open stream (each settles at what it consumed;
   * calls awaiting a response reject with ClientDestroyedError), voids holds whose requests were
   * never sent, flushes the audit chain and closes the ledger. Idempotent.
   */
  destroy(): Promise<void>;
}

/** `withOptions()` on a trusted client returns a trusted client of the same shape. */
type WithOptions<T> = T extends { withOptions(options: infer O): unknown }
  ? { withOptions(options: O): TrustedClient<T, "spec"> }
  : unknown;

/**
 * The governed client. "spec": the SDK's shape with each governed create method resolving to
 * `{ response, receipt, governance }` (streams to a GovernedStream). "native": exactly the SDK's
 * own type (so it can be passed wherever the SDK client is expected), plus destroy().
 */
export type TrustedClient<T, Shape extends "spec" | "native" = "spec"> = Shape extends "native"
  ? T & Destroyable
  : Omit<SpecShaped<T>, "withOptions"> & WithOptions<T> & Destroyable;
