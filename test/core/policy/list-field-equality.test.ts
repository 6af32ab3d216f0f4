import { writeFileSync } from "node:fs";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { PolicyDeniedError, trust } from "../../../src/index.ts";
import { makeTempVault } from "../../support/temp-vault.ts";
import { useOpenAIStandIn } from "../../support/use-openai-stand-in.ts";

/*
 * README "Policies": `scope` is "a list" and `tools` "the tool names offered to the model". On a
 * list, eq / in match when any element is one of the values (neq / not_in when none is), so a hard
 * deny written the natural way (`scope in [production/api]`, `tools in [shell_exec]`) refuses the
 * call before anything is sent. Each test makes the real call through trust().
 */
describe("a hard deny using in / eq / not_in on a list field (scope, tools)", () => {
  const standIn = useOpenAIStandIn();
  const { cleanups } = standIn;

  async function callWith(policy: string, scope: string, tools: string[] = []) {
    const vault = makeTempVault({ budget: 1_000_000 });
    cleanups.push(vault.cleanup);
    writeFileSync(vault.paths.defaultPolicy, policy);
    const client = await trust(
      new OpenAI({ baseURL: `${standIn.server.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: vault.base,
        scope,
      },
    );
    cleanups.push(() => client.destroy());
    const before = standIn.server.requests.length;
    const outcome = await client.chat.completions
      .create({
        model: "gpt-4o",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 5,
        ...(tools.length === 0
          ? {}
          : {
              tools: tools.map((name) => ({
                type: "function" as const,
                function: { name, parameters: { type: "object", properties: {} } },
              })),
            }),
      })
      .catch((error: unknown) => error);
    return { outcome, sent: standIn.server.requests.length - before };
  }

  it("`scope in [production/api]` refuses a call scoped production/api (never silently lets it through)", async () => {
    const { outcome, sent } = await callWith(
      `- name: freeze-prod-api
  effect: deny
  enforcement: hard
  conditions:
    - { field: scope, operator: in, value: [production/api] }
`,
      "production/api",
    );
    expect(outcome).toBeInstanceOf(PolicyDeniedError);
    expect(sent).toBe(0);
  });

  it("`tools in [shell_exec]` refuses a call that offers the model shell_exec", async () => {
    const { outcome, sent } = await callWith(
      `- name: no-shell
  effect: deny
  enforcement: hard
  severity: critical
  conditions:
    - { field: tools, operator: in, value: [shell_exec] }
`,
      "production/agent",
      ["shell_exec"],
    );
    expect(outcome).toBeInstanceOf(PolicyDeniedError);
    expect(sent).toBe(0);
  });

  it("`scope eq production/api` refuses a call scoped production/api", async () => {
    const { outcome, sent } = await callWith(
      `- name: freeze-prod-api
  effect: deny
  enforcement: hard
  conditions:
    - { field: scope, operator: eq, value: production/api }
`,
      "production/api",
    );
    expect(outcome).toBeInstanceOf(PolicyDeniedError);
    expect(sent).toBe(0);
  });

  it("`tools not_in [search]` refuses a call offering another tool, and lets one offering only search through", async () => {
    const policy = `- name: search-only
  effect: deny
  enforcement: hard
  conditions:
    - { field: tools, operator: not_in, value: [search] }
    - { field: tool_count, operator: gt, value: 0 }
`;
    const other = await callWith(policy, "production/agent", ["search", "shell_exec"]);
    expect(other.outcome).toBeInstanceOf(PolicyDeniedError);
    expect(other.sent).toBe(0);
    const searchOnly = await callWith(policy, "production/agent", ["search"]);
    expect(searchOnly.outcome).not.toBeInstanceOf(Error);
    expect(searchOnly.sent).toBe(1);
  });
});
