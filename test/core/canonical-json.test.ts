import canonicalize from "canonicalize";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/core/canonical-json.ts";

/**
 * canonicalJson must produce RFC 8785 (JCS) bytes, because audit hashes are computed over them and
 * verifiers in other languages must get the same bytes. The `canonicalize` package (the RFC's
 * reference implementation for JavaScript) is the oracle.
 */

function reference(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error("the reference implementation produced no JSON for this value");
  return text;
}

/** A double from its IEEE 754 bit pattern, as RFC 8785 Appendix B lists its number examples. */
function doubleFromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

const edgeNumbers = fc.constantFrom(
  0,
  -0,
  1,
  -1,
  0.1 + 0.2,
  1e21,
  1e-7,
  1e-6,
  5e-324,
  -5e-324,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  2 ** 53,
  1e30,
  4.5,
  0.002,
);

const finiteNumber = fc.oneof(
  edgeNumbers,
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.integer({ min: -1_000_000, max: 1_000_000 }).map((n) => n / 1000),
);

const controlChar = fc.integer({ min: 0, max: 0x1f }).map((code) => String.fromCharCode(code));
const trickyChar = fc.constantFrom(
  '"',
  "\\",
  "/",
  "\u007f",
  "\u0080",
  "\u00f6",
  "\u2028",
  "\u2029",
  "\u20ac",
  "\ufb33",
  "\ufeff",
  "\ud83d\ude00",
  "\u{10ffff}",
);

/** Well-formed strings mixing every unicode plane, control characters and characters JSON treats specially. */
const wellFormedString = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
  fc.string({
    unit: fc.oneof(controlChar, trickyChar, fc.string({ unit: "binary", minLength: 1, maxLength: 1 })),
  }),
);

const { value: jsonTree } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    finiteNumber,
    wellFormedString,
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(wellFormedString, tie("value"), { maxKeys: 5 }),
  ),
}));

/** Rebuilds every object with its keys inserted in a shuffled order. */
function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((item, index) => shuffleKeys(item, seed + index));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  let state = seed >>> 0;
  for (let i = entries.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    const j = state % (i + 1);
    const picked = entries[j];
    const current = entries[i];
    if (picked === undefined || current === undefined) continue;
    entries[i] = picked;
    entries[j] = current;
  }
  // fromEntries defines own properties, so a "__proto__" key stays a key instead of setting the prototype.
  return Object.fromEntries(entries.map(([key, member]) => [key, shuffleKeys(member, state + key.length)]));
}

describe("canonicalJson agrees with the RFC 8785 reference implementation", () => {
  it("for arbitrary JSON values", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 300 },
    );
  });

  it("for JSON values with full-unicode strings", () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: "binary" }), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 200 },
    );
  });

  it("for trees of edge-case numbers and strings with control characters, surrogate pairs and escapes", () => {
    fc.assert(
      fc.property(jsonTree, (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 400 },
    );
  });

  it("for every finite double", () => {
    fc.assert(
      fc.property(finiteNumber, (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 500 },
    );
  });
});

describe("canonicalJson is canonical", () => {
  it("does not depend on the order keys were inserted", () => {
    fc.assert(
      fc.property(jsonTree, fc.integer(), (value, seed) => {
        expect(canonicalJson(shuffleKeys(value, seed))).toBe(canonicalJson(value));
      }),
      { numRuns: 300 },
    );
  });

  it("is a fixed point through JSON.parse", () => {
    fc.assert(
      fc.property(jsonTree, (value) => {
        const canonical = canonicalJson(value);
        expect(canonicalJson(JSON.parse(canonical))).toBe(canonical);
      }),
      { numRuns: 300 },
    );
  });

  it("emits no whitespace between tokens", () => {
    expect(canonicalJson({ b: [1, { c: true }], a: null })).toBe('{"a":null,"b":[1,{"c":true}]}');
  });
});

describe("canonicalJson matches the examples published in RFC 8785", () => {
  it("serializes the §3.2.2 sample object", () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    expect(canonicalJson(JSON.parse(input))).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  it("sorts keys by UTF-16 code units as in §3.2.3", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it("orders a supplementary-plane key before U+FB33 by its surrogates, not by code point", () => {
    // By code point U+1F600 sorts after U+FB33; by UTF-16 code units its lead surrogate 0xD83D sorts first.
    expect(canonicalJson({ "\ufb33": 1, "\u{1f600}": 2 })).toBe('{"\u{1f600}":2,"\ufb33":1}');
  });

  it.each([
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ])("serializes the double with bits %s as %s (Appendix B)", (bits, expected) => {
    expect(canonicalJson(doubleFromBits(bits))).toBe(expected);
  });

  it.each([
    [1e30, "1e+30"],
    [4.5, "4.5"],
    [0.002, "0.002"],
    [1e-7, "1e-7"],
    [-0, "0"],
    [1e21, "1e+21"],
    [1e20, "100000000000000000000"],
  ])("serializes %s as %s", (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
    expect(canonicalJson([value])).toBe(`[${expected}]`);
  });

  it("escapes only what JSON requires, in lowercase hex, and keeps other characters as they are", () => {
    expect(canonicalJson("\u0000\u0008\t\n\u000b\f\r\u001f\u007f\u2028\u00e9\ud83d\ude00")).toBe(
      '"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\u007f\u2028\u00e9\ud83d\ude00"',
    );
  });

  it("applies no Unicode normalization", () => {
    const composed = "\u00e9";
    const decomposed = "e\u0301";
    expect(canonicalJson({ [composed]: 1, [decomposed]: 2 })).toBe(`{"${decomposed}":2,"${composed}":1}`);
  });
});

describe("canonicalJson refuses what has no canonical form", () => {
  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])("throws for %s", (value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
    expect(() => canonicalJson({ nested: [1, value] })).toThrow(TypeError);
  });

  // RFC 8785 §3.2.2.2: lone surrogates break signatures across implementations and MUST be
  // rejected with an error; the reference implementation does so.
  it.each([
    ["a lone lead surrogate in a value", { text: "abc\ud800" }],
    ["a lone trail surrogate in a value", ["\udc00xyz"]],
    ["a trail surrogate before its lead", "\ude00\ud83d"],
    ["a lone surrogate in a key", { "k\udfff": 1 }],
  ])("throws for %s", (_case, value) => {
    expect(() => reference(value)).toThrow();
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });

  it("serializes deep but bounded nesting and throws beyond its depth limit instead of recursing without bound", () => {
    const nest = (levels: number): unknown => {
      let value: unknown = 0;
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    expect(canonicalJson(nest(32))).toBe(reference(nest(32)));
    expect(() => canonicalJson(nest(10_000))).toThrow(TypeError);
  });
});

describe("canonicalJson treats values as JSON.stringify does", () => {
  it("uses toJSON, so dates become their ISO strings", () => {
    const value = { at: new Date(0) };
    expect(canonicalJson(value)).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
    expect(canonicalJson(value)).toBe(reference(value));
  });

  it("drops undefined members and writes undefined array items as null", () => {
    const value = { kept: 1, dropped: undefined, list: [undefined, 2] };
    expect(canonicalJson(value)).toBe('{"kept":1,"list":[null,2]}');
    expect(canonicalJson(value)).toBe(reference(value));
  });
});
