import type { Hold } from "../hold.ts";
import type { TrustReceipt } from "../receipt.ts";

/**
 * Calls a surface's `onReceipt` with the hold's receipt once the hold ends, settled or released.
 * A throwing callback must not break the call it reports on, nor end the process as an unhandled
 * rejection: it becomes a process warning.
 */
export function reportReceipt(hold: Hold, onReceipt: ((receipt: TrustReceipt) => void) | undefined): void {
  if (onReceipt === undefined) return;
  hold.receipt.then(
    (receipt) => {
      try {
        onReceipt(receipt);
      } catch (error) {
        process.emitWarning(`usertrust: the onReceipt callback threw: ${String(error)}`, "UsertrustWarning");
      }
    },
    () => {},
  );
}
