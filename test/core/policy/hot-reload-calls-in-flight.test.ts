import { writeFileSync } from "node:fs";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { PolicyDeniedError, type TrustedClient, trust } from "../../../src/index.ts";
import { makeTempVault } from "../../support/temp-vault.ts";
import { useOpenAIStandIn } from "../../support/use-openai-stand-in.ts";

/*
 * README "Policies": "Edits take effect on the next call". SharedRuleView's own promise: "a caller
 * that awaited [a call's outcome], edited a file and called again has ordered that edit before the
 * new call, which must see it." Here the awaited call (Y) is refused by the LEDGER, after its policy
 * check ended; meanwhile another call (X, an unrelated task on the same client) started its check
 * and is still in progress in the same turn. The caller of Y edits the policy and calls again (Z):
 * Z reuses X's look, taken before the edit, and the newly denied model is sent.
 */

const keepReserve = `- name: keep-reserve
  effect: warn
  enforcement: soft
  conditions:
    - { field: budget_remaining, operator: lt, value: -1 }
    - { field: model, operator: eq, value: never-this-model }
`;
const denyModel = (model: string) => `- name: no-${model}
  effect: deny
  enforcement: hard
  conditions:
    - { field: model, operator: eq, value: ${model} }
`;

describe("hot reload while another call's check is in progress", () => {
  const standIn = useOpenAIStandIn();
  const { cleanups } = standIn;

  const ask = (client: TrustedClient<OpenAI>, model: string, maxTokens: number) =>
    client.chat.completions
      .create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: maxTokens })
      .then(() => "sent" as const)
      .catch((error: unknown) => error);

  it("a deny rule added right after a ledger-refused call refuses the next call, whatever else is in flight", async () => {
    const results: string[] = [];
    for (let delay = 0; delay <= 40; delay += 1) {
      const vault = makeTempVault({ budget: 300 });
      cleanups.push(vault.cleanup);
      writeFileSync(vault.paths.defaultPolicy, keepReserve);
      const client = await trust(
        new OpenAI({ baseURL: `${standIn.server.url}/v1`, apiKey: "t", maxRetries: 0 }),
        {
          vaultBase: vault.base,
        },
      );
      cleanups.push(() => client.destroy());
      // Y: more than the budget, refused by the ledger after its policy check.
      const y = ask(client, "gpt-4o", 4000);
      // X: another task's call, started `delay` microtasks later.
      let tick: Promise<void> = Promise.resolve();
      for (let i = 0; i < delay; i += 1) tick = tick.then(() => {});
      const x = tick.then(() => ask(client, "gpt-4o-mini", 5));
      const yOutcome = await y;
      writeFileSync(vault.paths.defaultPolicy, keepReserve + denyModel("gpt-4o-mini"));
      const z = await ask(client, "gpt-4o-mini", 5);
      await x;
      // One more call, a turn later, sees the edit: the file was written; only Z's look was stale.
      const later = await ask(client, "gpt-4o-mini", 5);
      results.push(
        `${delay}: y=${(yOutcome as Error)?.constructor?.name ?? yOutcome} later=${later instanceof PolicyDeniedError ? "denied" : String(later)} z=${z instanceof PolicyDeniedError ? "denied" : String(z)}`,
      );
    }
    expect(results.filter((line) => !line.endsWith("z=denied"))).toEqual([]);
  });
});
