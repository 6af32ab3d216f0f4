import { rmSync, writeFileSync } from "node:fs";
import OpenAI from "openai";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PolicyDeniedError, trust } from "../../../src/index.ts";
import { readAuditLog } from "../../support/audit-log.ts";
import { makeTempVault } from "../../support/temp-vault.ts";
import { useOpenAIStandIn } from "../../support/use-openai-stand-in.ts";

/*
 * README "Policies": the default file may be missing when a client starts (no rules from it), but
 * once loaded, its disappearing is treated like a broken edit: the last good rules stay in force,
 * it is reported once (stderr and a `policy_reload_failed` event), and the file is read again when
 * it is back. Editors that save by moving the old file aside and writing a new one leave it
 * missing for a moment; a deleted default.yml must not switch every rule off without a word.
 */

const noGpt4o = `- name: no-gpt-4o
  effect: deny
  enforcement: hard
  conditions:
    - { field: model, operator: eq, value: gpt-4o }
`;

describe("the default policy file disappearing while a client runs", () => {
  const standIn = useOpenAIStandIn();
  const { cleanups } = standIn;
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 5));

  async function setUp() {
    const vault = makeTempVault({ budget: 1_000_000 });
    cleanups.push(vault.cleanup);
    writeFileSync(vault.paths.defaultPolicy, noGpt4o);
    const client = await trust(
      new OpenAI({ baseURL: `${standIn.server.url}/v1`, apiKey: "test", maxRetries: 0 }),
      {
        vaultBase: vault.base,
      },
    );
    cleanups.push(() => client.destroy());
    const ask = () =>
      client.chat.completions
        .create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 5 })
        .then(() => "sent" as const)
        .catch((error: unknown) => error);
    return { vault, ask };
  }

  it("keeps the last good rules when default.yml is deleted, as it does for any other policy file", async () => {
    const { vault, ask } = await setUp();
    expect(await ask()).toBeInstanceOf(PolicyDeniedError);

    rmSync(vault.paths.defaultPolicy);
    await nextTurn();
    const before = standIn.server.requests.length;
    expect(await ask()).toBeInstanceOf(PolicyDeniedError);
    expect(standIn.server.requests.length).toBe(before);
  });

  it("reports the removal once, on stderr and in a policy_reload_failed event", async () => {
    const { vault, ask } = await setUp();
    const stderr: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation(((chunk: unknown) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write);

    rmSync(vault.paths.defaultPolicy);
    await nextTurn();
    await ask();
    await nextTurn();
    await ask();

    const reports = stderr.filter((text) => text.includes("last valid rules stay in force"));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toContain(vault.paths.defaultPolicy);
    const failures = readAuditLog(vault.paths.auditLog).filter(
      (event) => event.kind === "policy_reload_failed",
    );
    expect(failures).toHaveLength(1);
    expect(JSON.stringify(failures[0]?.data)).toContain("no such policy file");
  });

  it("reads default.yml again when it is back", async () => {
    const { vault, ask } = await setUp();
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    rmSync(vault.paths.defaultPolicy);
    await nextTurn();
    expect(await ask()).toBeInstanceOf(PolicyDeniedError);

    writeFileSync(vault.paths.defaultPolicy, "[]\n");
    await nextTurn();
    expect(await ask()).toBe("sent");
  });

  it("an editor's save that moves default.yml aside and then writes a broken version leaves the rules in force", async () => {
    const { vault, ask } = await setUp();
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(await ask()).toBeInstanceOf(PolicyDeniedError);

    rmSync(vault.paths.defaultPolicy); // the moment between "move aside" and "write"
    await nextTurn();
    await ask(); // a call that lands in that moment
    writeFileSync(vault.paths.defaultPolicy, `${noGpt4o}  priority: high\n`); // a typo: not a number
    await nextTurn();

    const outcome = await ask();
    const events = readAuditLog(vault.paths.auditLog).map((event) => event.kind);
    expect(events).toContain("policy_reload_failed"); // "…the last valid rules stay in force"
    expect(outcome).toBeInstanceOf(PolicyDeniedError);
  });
});
