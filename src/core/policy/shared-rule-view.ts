import type { PolicySet } from "./policy-set.ts";
import { type RuleView, splitRules } from "./rule-view.ts";

/**
 * The rules a check starts with. Every check looks at the policy files (a stat per file), so an
 * edit applies from the next call; only checks that overlap share a look. A check that starts while
 * another is still in progress (awaiting the ledger or the board) in the same event-loop turn
 * uses the look that check took: at high concurrency this spares a stat per call.
 *
 * A look is never shared once any check has ended, nor after its turn. A call's outcome can reach
 * the caller within the turn (a refusal settles without any I/O), and a caller that awaited it,
 * edited a file and called again has ordered that edit before the new call, which must see it.
 */
export class SharedRuleView {
  readonly #policies: PolicySet;
  #view: RuleView | undefined;
  /** The last look may be shared: set by a look, cleared when any check ends and at the turn's end. */
  #shareable = false;
  #expiryScheduled = false;

  constructor(policies: PolicySet) {
    this.#policies = policies;
  }

  /** The rules for a check that starts now; every check that calls this must call `checkEnded`. */
  forCheck(): RuleView {
    if (this.#shareable && this.#view !== undefined) return this.#view;
    const loaded = this.#policies.rules();
    if (this.#view?.loaded !== loaded) this.#view = splitRules(loaded);
    this.#shareable = true;
    this.#expireAtTurnEnd();
    return this.#view;
  }

  /** A check ended (cleared, refused or failed): calls starting from now look at the files again. */
  checkEnded(): void {
    this.#shareable = false;
  }

  /** One pending expiry at a time: a look per call would otherwise queue an immediate per call. */
  #expireAtTurnEnd(): void {
    if (this.#expiryScheduled) return;
    this.#expiryScheduled = true;
    setImmediate(() => {
      this.#expiryScheduled = false;
      this.#shareable = false;
    });
  }
}
