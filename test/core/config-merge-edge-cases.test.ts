import { describe, expect, it } from "vitest";
import { parseConfig, withOverrides } from "../../src/core/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

const FILE = "/vault/.usertrust/usertrust.config.json";

function configError(text: string): ConfigError {
  try {
    parseConfig(text, FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

describe("config fields passed in code over the file", () => {
  it("keeps the file's pii redaction when code only turns on restore", () => {
    // The file redacts PII; the app adds `restore` to put the values back into responses.
    const file = parseConfig(JSON.stringify({ budget: 5, pii: "redact" }), FILE);
    const config = withOverrides(file, { pii: { restore: true } } as never, "the `config` option");
    // Merged today: { mode: "warn", restore: true } — PII is no longer redacted, only warned about.
    expect(config.pii).toEqual({ mode: "redact", restore: true });
  });

  it("uses a model's price passed in code as given, not mixed with the file's cache prices for that model", () => {
    const file = parseConfig(
      JSON.stringify({
        budget: 5,
        pricing: {
          "my-model": { inputPerMTok: 10, outputPerMTok: 30, cacheReadPerMTok: 1, cacheWritePerMTok: 12.5 },
        },
      }),
      FILE,
    );
    const config = withOverrides(
      file,
      { pricing: { "my-model": { inputPerMTok: 0.1, outputPerMTok: 0.3 } } },
      "the `config` option",
    );
    // Merged today: cacheReadPerMTok 1 and cacheWritePerMTok 12.5 stay, so a cached input token
    // costs 10× (and a cache write 125×) the input price the code set for the model.
    expect(config.pricing["my-model"]).toEqual({ inputPerMTok: 0.1, outputPerMTok: 0.3 });
  });
});

describe("config file error lines", () => {
  it("names the line of the bad field in the section JSON.parse keeps when a section is written twice", () => {
    const text = [
      "{", //                        1
      '  "budget": 5,', //            2
      '  "board": {', //              3
      '    "maxHistory": 10', //      4
      "  },", //                      5
      '  "board": {', //              6
      '    "maxHistory": 0', //       7  ← the value JSON.parse keeps, and the one refused
      "  }", //                       8
      "}", //                         9
      "",
    ].join("\n");
    const error = configError(text);
    expect(error.field).toBe("board.maxHistory");
    // Today: line 4, the first board's valid maxHistory.
    expect(error.line).toBe(7);
  });
});
