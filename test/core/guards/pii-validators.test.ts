import { isIPv4, isIPv6 } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IBAN_LENGTH_BY_COUNTRY } from "../../../src/core/guards/iban-lengths.ts";
import {
  hasJwtHeader,
  ibanLengthAt,
  isCardNumber,
  isIpv4,
  isIpv6,
  isUsSsn,
  passesLuhn,
} from "../../../src/core/guards/pii-validators.ts";

/** The Luhn check digit computed the textbook way, independently of the code under test. */
function luhnCheckDigit(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    let digit = Number(payload[payload.length - 1 - i]);
    if (i % 2 === 0) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return String((10 - (sum % 10)) % 10);
}

/** ISO 7064 check digits for an IBAN, with BigInt arithmetic as the reference. */
function ibanWithCheckDigits(country: string, bban: string): string {
  const numeric = [...`${bban}${country}00`].map((char) => Number.parseInt(char, 36).toString()).join("");
  const check = 98n - (BigInt(numeric) % 97n);
  return `${country}${check.toString().padStart(2, "0")}${bban}`;
}

const digitString = (minLength: number, maxLength: number) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength, maxLength }).map((digits) => digits.join(""));

describe("passesLuhn", () => {
  it("accepts a payload followed by its check digit and rejects every other last digit", () => {
    fc.assert(
      fc.property(digitString(1, 18), (payload) => {
        const check = luhnCheckDigit(payload);
        for (let digit = 0; digit <= 9; digit++) {
          expect(passesLuhn(`${payload}${digit}`)).toBe(String(digit) === check);
        }
      }),
    );
  });

  it("catches every single-digit typo", () => {
    fc.assert(
      fc.property(digitString(12, 18), fc.nat(), fc.integer({ min: 1, max: 9 }), (payload, at, shift) => {
        const valid = payload + luhnCheckDigit(payload);
        const index = at % valid.length;
        const typo = `${valid.slice(0, index)}${(Number(valid[index]) + shift) % 10}${valid.slice(index + 1)}`;
        expect(passesLuhn(typo)).toBe(false);
      }),
    );
  });
});

describe("isCardNumber", () => {
  it("accepts any Luhn-valid 16-digit Visa number, grouped by spaces, dashes or not at all", () => {
    fc.assert(
      fc.property(digitString(14, 14), fc.constantFrom("", " ", "-"), (middle, separator) => {
        const digits = `4${middle}${luhnCheckDigit(`4${middle}`)}`;
        if (/^(\d)\1+$/.test(digits)) return;
        const grouped = digits.match(/\d{4}/g)?.join(separator) ?? digits;
        expect(isCardNumber(grouped)).toBe(true);
      }),
    );
  });

  it("rejects numbers whose issuer prefix no network uses, even with a valid checksum", () => {
    for (const prefix of ["0", "1", "7", "80", "9"]) {
      const payload = `${prefix}23456789012345`.slice(0, 15);
      expect(isCardNumber(payload + luhnCheckDigit(payload))).toBe(false);
    }
  });

  it("rejects lengths a network does not issue", () => {
    const amex14 = `3782822463100`;
    expect(isCardNumber(amex14 + luhnCheckDigit(amex14))).toBe(false);
    expect(isCardNumber("378282246310005")).toBe(true);
  });
});

describe("ibanLengthAt", () => {
  const countries = [...IBAN_LENGTH_BY_COUNTRY.entries()];

  it("accepts an IBAN of every listed country with correct check digits, with or without spaces", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...countries),
        fc.boolean(),
        fc.infiniteStream(fc.integer({ min: 0, max: 9 })),
        (entry, spaced, digits) => {
          const [country, length] = entry;
          const bban = [...digits.take(length - 4)].join("");
          const iban = ibanWithCheckDigits(country, bban);
          const written = spaced ? (iban.match(/.{1,4}/g) ?? []).join(" ") : iban;
          expect(ibanLengthAt(`${written} is mine`)).toBe(written.length);
        },
      ),
    );
  });

  it("rejects an IBAN with any single character changed", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...countries),
        fc.infiniteStream(fc.integer({ min: 0, max: 9 })),
        fc.nat(),
        fc.integer({ min: 1, max: 9 }),
        (entry, digits, at, shift) => {
          const [country, length] = entry;
          const iban = ibanWithCheckDigits(country, [...digits.take(length - 4)].join(""));
          const index = 2 + (at % (length - 2));
          const typo = `${iban.slice(0, index)}${(Number(iban[index]) + shift) % 10}${iban.slice(index + 1)}`;
          expect(ibanLengthAt(typo)).toBe(0);
        },
      ),
    );
  });

  it("rejects a valid checksum at the wrong length for its country", () => {
    expect(ibanLengthAt(ibanWithCheckDigits("DE", "37040044053201300"))).toBe(0);
  });
});

describe("isUsSsn", () => {
  it.each([
    ["536-22-1234", true],
    ["536221234", true],
    ["000-22-1234", false],
    ["666-22-1234", false],
    ["912-22-1234", false],
    ["536-00-1234", false],
    ["536-22-0000", false],
    ["078-05-1120", false],
    ["219-09-9999", false],
  ])("%s → %s", (candidate, valid) => {
    expect(isUsSsn(candidate)).toBe(valid);
  });
});

describe("IP address validators", () => {
  it("agree with node:net on generated addresses", () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        expect(isIpv4(address)).toBe(isIPv4(address));
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), (address) => {
        expect(isIpv6(address)).toBe(true);
      }),
    );
  });

  it("agree with node:net on arbitrary strings of address characters", () => {
    const v4Like = fc.string({ unit: fc.constantFrom("0", "1", "2", "5", "9", "."), maxLength: 16 });
    const v6Like = fc.string({
      unit: fc.constantFrom("0", "1", "a", "F", ":", ".", "2", "5"),
      maxLength: 40,
    });
    fc.assert(
      fc.property(v4Like, (candidate) => {
        expect(isIpv4(candidate)).toBe(isIPv4(candidate));
      }),
    );
    fc.assert(
      fc.property(v6Like, (candidate) => {
        expect(isIpv6(candidate)).toBe(isIPv6(candidate));
      }),
      { numRuns: 2000 },
    );
    const nearlyV6 = fc
      .tuple(fc.ipV6(), fc.nat(), fc.constantFrom("", ":", "0", ".", "g", "::", "1.2.3.4"))
      .map(([address, at, insert]) => {
        const index = at % (address.length + 1);
        return address.slice(0, index) + insert + address.slice(index + (insert === "" ? 1 : 0));
      });
    fc.assert(
      fc.property(nearlyV6, (candidate) => {
        expect(isIpv6(candidate)).toBe(isIPv6(candidate));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("hasJwtHeader", () => {
  const encode = (json: string) => Buffer.from(json).toString("base64url");

  it("accepts a JSON header that names its algorithm", () => {
    expect(hasJwtHeader(encode('{"alg":"RS256","typ":"JWT"}'))).toBe(true);
  });

  it("rejects headers without an algorithm, non-JSON and non-objects", () => {
    expect(hasJwtHeader(encode('{"typ":"JWT"}'))).toBe(false);
    expect(hasJwtHeader(encode("not json"))).toBe(false);
    expect(hasJwtHeader(encode('"alg"'))).toBe(false);
    expect(hasJwtHeader(encode('{"alg":7}'))).toBe(false);
  });
});
