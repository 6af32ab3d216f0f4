import { writeFileSync } from "node:fs";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { BudgetExceededError, PolicyDeniedError, type TrustedClient, trust } from "../../../src/index.ts";
import { makeTempVault } from "../../support/temp-vault.ts";
import { useOpenAIStandIn } from "../../support/use-openai-stand-in.ts";

/*
 * README "Policies": "Edits take effect on the next call, no restart." A refused call settles
 * without leaving the event-loop turn it started in, so code that awaits the refusal, edits the
 * policy and calls again does all that in one turn: the new call must still look at the file.
 */

const denyModel = (model: string) => `- name: no-${model}
  effect: deny
  enforcement: hard
  conditions:
    - { field: model, operator: eq, value: ${model} }
`;

describe("hot reload: an edit applies to the next call", () => {
  const standIn = useOpenAIStandIn();
  const { cleanups } = standIn;

  async function clientOn(policy: string, budget = 1_000_000) {
    const vault = makeTempVault({ budget });
    cleanups.push(vault.cleanup);
    writeFileSync(vault.paths.defaultPolicy, policy);
    const client = await trust(
      new OpenAI({ baseURL: `${standIn.server.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: vault.base,
      },
    );
    cleanups.push(() => client.destroy());
    return { client, policyFile: vault.paths.defaultPolicy };
  }

  const ask = (client: TrustedClient<OpenAI>, model: string, maxTokens = 5) =>
    client.chat.completions
      .create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: maxTokens })
      .then(() => "sent" as const)
      .catch((error: unknown) => error);

  it("a deny rule added right after a refused call refuses the next call", async () => {
    const { client, policyFile } = await clientOn(denyModel("gpt-4o"));
    expect(await ask(client, "gpt-4o")).toBeInstanceOf(PolicyDeniedError);

    // The operator reacts to the refusal by tightening the policy: gpt-4o-mini is now denied too.
    writeFileSync(policyFile, denyModel("gpt-4o") + denyModel("gpt-4o-mini"));
    const before = standIn.server.requests.length;
    const outcome = await ask(client, "gpt-4o-mini");
    expect(outcome).toBeInstanceOf(PolicyDeniedError);
    expect(standIn.server.requests.length).toBe(before);
  });

  it("a deny rule removed right after a refused call no longer refuses the retry", async () => {
    const { client, policyFile } = await clientOn(denyModel("gpt-4o"));
    expect(await ask(client, "gpt-4o")).toBeInstanceOf(PolicyDeniedError);

    writeFileSync(policyFile, "[]\n");
    expect(await ask(client, "gpt-4o")).toBe("sent");
  });

  it("a deny rule added right after a call the ledger refused refuses the next call", async () => {
    // A 1 UT budget: the ledger refuses a 500-token hold, after the policy checks have passed.
    const { client, policyFile } = await clientOn("[]\n", 1);
    expect(await ask(client, "gpt-4o", 500)).toBeInstanceOf(BudgetExceededError);

    writeFileSync(policyFile, denyModel("gpt-4o"));
    expect(await ask(client, "gpt-4o", 500)).toBeInstanceOf(PolicyDeniedError);
  });
});
