import { writeFileSync } from "node:fs";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { BudgetExceededError, trust } from "../../../src/index.ts";
import { readAuditLog } from "../../support/audit-log.ts";
import { makeTempVault } from "../../support/temp-vault.ts";
import { useOpenAIStandIn } from "../../support/use-openai-stand-in.ts";

/*
 * README, config `enforcement`: `"log"`: "only the audit event says it" (what would have been
 * refused). A call's would-be denials are written with its spend or void event; a call the ledger
 * then refuses has one event only, `budget_exceeded`, and that event carries them.
 */

describe("enforcement: log records every policy violation, also of a call the ledger refuses", () => {
  const standIn = useOpenAIStandIn();
  const { cleanups } = standIn;

  it("a call a hard deny would refuse, then refused by the ledger, still leaves the rule in the audit log", async () => {
    const vault = makeTempVault({ budget: 1, enforcement: "log" }); // 1 UT: any real call is over budget
    cleanups.push(vault.cleanup);
    writeFileSync(
      vault.paths.defaultPolicy,
      `- name: no-gpt-4o-for-interns
  effect: deny
  enforcement: hard
  severity: high
  conditions:
    - { field: metadata.role, operator: eq, value: intern }
`,
    );
    const client = await trust(
      new OpenAI({ baseURL: `${standIn.server.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: vault.base,
        metadata: { role: "intern" },
      },
    );
    cleanups.push(() => client.destroy());
    const outcome = await client.chat.completions
      .create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 500 })
      .catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(BudgetExceededError);

    const events = readAuditLog(vault.paths.auditLog);
    expect(events.map((event) => event.kind)).toEqual(["budget_exceeded"]);
    expect(JSON.stringify(events)).toContain("no-gpt-4o-for-interns");
  });

  it("a budget rule's would-be denial judged at the reserve is in the ledger's budget_exceeded event", async () => {
    // The default policy's budget-exhausted rule is left for the reserve; in log mode it only notes
    // its denial, and then the ledger refuses the hold itself.
    const vault = makeTempVault({ budget: 1, enforcement: "log" });
    cleanups.push(vault.cleanup);
    const client = await trust(
      new OpenAI({ baseURL: `${standIn.server.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: vault.base,
      },
    );
    cleanups.push(() => client.destroy());
    const outcome = await client.chat.completions
      .create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 500 })
      .catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(BudgetExceededError);

    const [event, ...rest] = readAuditLog(vault.paths.auditLog);
    expect(rest).toEqual([]);
    expect(event?.kind).toBe("budget_exceeded");
    expect(event?.data).toMatchObject({
      enforcement: "log",
      wouldDeny: [expect.stringContaining("budget_exceeded")],
      policy: [expect.objectContaining({ rule: "budget-exhausted" })],
    });
  });
});
