import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { trust } from "../../../src/adapters/trust.ts";
import { loadPolicies } from "../../../src/core/policy/policy-file.ts";
import { PolicyLoadError } from "../../../src/core/policy/policy-load-error.ts";
import { makeTempVault } from "../../support/temp-vault.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const FORBID_ALL = "forbid (principal, action, resource);\n";

describe("Cedar policy files (not supported yet)", () => {
  it("a .cedar file in a policy folder refuses the rules, naming the file, instead of being skipped", () => {
    const vault = makeTempVault({ budget: 100_000 });
    cleanups.push(vault.cleanup);
    const folder = join(vault.base, "rules");
    mkdirSync(folder);
    writeFileSync(join(folder, "a.yml"), "[]\n");
    writeFileSync(join(folder, "forbid-all.cedar"), FORBID_ALL);
    const error = (() => {
      try {
        loadPolicies([folder]);
        return undefined;
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as PolicyLoadError).problems).toEqual([
      expect.objectContaining({
        file: join(folder, "forbid-all.cedar"),
        message: expect.stringMatching(/Cedar policies are not supported/),
      }),
    ]);
  });

  it("trust() on a vault whose policy folder holds a Cedar forbid rule refuses to open, so no call goes out unchecked", async () => {
    const vault = makeTempVault({ budget: 100_000, policies: "policies" });
    cleanups.push(vault.cleanup);
    writeFileSync(join(vault.paths.policiesDir, "forbid-all.cedar"), FORBID_ALL);
    const opening = trust(new OpenAI({ baseURL: "http://127.0.0.1:9/v1", apiKey: "test", maxRetries: 0 }), {
      vaultBase: vault.base,
    });
    await expect(opening).rejects.toBeInstanceOf(PolicyLoadError);
  });
});
