import type { PolicySet } from "./policy-set.ts";
import { type RuleView, splitRules } from "./rule-view.ts";

/**
 * The rules a check starts with: every check looks at the policy files (a stat per file), so an
 * edit applies from the next call. Checks never share a look: a call's outcome can reach its
 * caller while other calls are still being checked (a refusal settles without any I/O), and a
 * caller that awaited it, edited a file and called again has ordered that edit before the new
 * call, whatever else is in flight. The split of the rules is kept until the files change.
 */
export class CurrentRules {
  readonly #policies: PolicySet;
  #view: RuleView | undefined;

  constructor(policies: PolicySet) {
    this.#policies = policies;
  }

  read(): RuleView {
    const loaded = this.#policies.rules();
    if (this.#view?.loaded !== loaded) this.#view = splitRules(loaded);
    return this.#view;
  }
}
