import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/core/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

// README, Configuration reference: `budget` is required (no budget is ever made up), and "a missing
// required field is reported at the line of the object that should hold it".
describe("a config file without its budget", () => {
  it("is refused, and the missing top-level field is reported at the line of the object that should hold it", () => {
    let error: unknown;
    try {
      parseConfig('{\n  "tier": "mini"\n}\n', "usertrust.config.json");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    // The root object that should hold `budget` opens on line 1.
    expect((error as ConfigError).line).toBe(1);
    expect((error as ConfigError).message).toMatch(/^usertrust\.config\.json:1 \(field `budget`\)/);
  });
});
