import type { CallContext } from "./governed-call.ts";
import { GovernedStream } from "./governed-stream.ts";
import { receiptOf, receiptOnceEnded, shareTrail } from "./receipt-trail.ts";

/** A governed method in the native shape (what the SDK returns). */
export type Governed = (body: unknown, options?: unknown) => PromiseLike<unknown>;

/** The spec's shapes over a native governed method: `{ response, receipt, governance }`, or a GovernedStream. */
export function specShaped(
  native: Governed,
  isStream: (body: unknown) => boolean,
  onDestroyed: CallContext["onDestroyed"],
) {
  const shaped = async (body: unknown, options?: unknown): Promise<unknown> => {
    const response = await (options === undefined ? native(body) : native(body, options));
    if (isStream(body)) {
      const stream = new GovernedStream(
        response as AsyncIterable<unknown>,
        (ended) => receiptOnceEnded(response, ended),
        onDestroyed,
      );
      shareTrail(response, stream);
      return stream;
    }
    const receipt = await receiptOf(response);
    return { response, receipt, governance: receipt };
  };
  return (body: unknown, options?: unknown): Promise<unknown> => {
    const result = shaped(body, options);
    // The call runs whether or not it is awaited (as the SDKs' own calls do): a promise nobody
    // awaits, such as one destroy() cut, must not become an unhandled rejection. Awaiting it
    // still rejects.
    result.catch(() => {});
    return result;
  };
}
