import { writeFileSync } from "node:fs";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { trust } from "../../src/index.ts";
import { cliInProcess } from "../support/run-cli.ts";
import { makeTempVault } from "../support/temp-vault.ts";
import { useOpenAIStandIn } from "../support/use-openai-stand-in.ts";

/*
 * README "Policies": `policy test` takes "the provider from `--provider` or else the model's in the
 * price table (`gpt-4o` → `openai`) — so a rule decides there as it will on a call. A model the
 * table does not know leaves `provider` missing". The price table does know text-embedding-3-small
 * and chatgpt-4o-latest (under openai: the engine prices both from it), yet providerOfModel()
 * asks findProvider() without a provider and gets undefined, so a hard deny that reads `provider`
 * fails closed in `policy test` while the real call through trust() is allowed.
 */
const approvedProviders = `- name: approved-providers-only
  effect: deny
  enforcement: hard
  conditions:
    - { field: provider, operator: not_in, value: [openai, anthropic] }
`;

describe("`usertrust policy test` names the provider the price table gives a model it prices", () => {
  const standIn = useOpenAIStandIn();
  const { cleanups } = standIn;

  for (const [model, call] of [
    [
      "text-embedding-3-small",
      (client: OpenAI) => client.embeddings.create({ model: "text-embedding-3-small", input: "hi" }),
    ],
    [
      "chatgpt-4o-latest",
      (client: OpenAI) =>
        client.chat.completions.create({
          model: "chatgpt-4o-latest",
          messages: [{ role: "user", content: "hi" }],
          max_tokens: 5,
        }),
    ],
  ] as const) {
    it(`${model}: a provider allowlist allows the real call and \`policy test\` alike`, async () => {
      const vault = makeTempVault({ budget: 1_000_000 });
      cleanups.push(vault.cleanup);
      writeFileSync(vault.paths.defaultPolicy, approvedProviders);
      const client = await trust(
        new OpenAI({ baseURL: `${standIn.server.url}/v1`, apiKey: "t", maxRetries: 0 }),
        {
          vaultBase: vault.base,
          shape: "native",
        },
      );
      cleanups.push(() => client.destroy());
      const outcome = await Promise.resolve(call(client as unknown as OpenAI)).then(
        () => "allowed",
        (error: unknown) => error,
      );
      expect(outcome).toBe("allowed");

      const run = await cliInProcess(
        "policy",
        "test",
        "--vault-base",
        vault.base,
        "--model",
        model,
        "--cost",
        "10",
      );
      expect(run.stdout).toMatch(/^Decision: allow/m);
      expect(run.code).toBe(0);
    });
  }
});
