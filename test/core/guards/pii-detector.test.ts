import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findPii, type PiiKind, scanPii } from "../../../src/core/guards/pii-detector.ts";

/** What a reader of the findings sees: each kind with the text it covers. */
function found(text: string): string[] {
  return findPii(text).map((finding) => `${finding.kind}: ${text.slice(finding.start, finding.end)}`);
}

/**
 * Each row is a sentence and the values in it that must be reported, or none. The negatives are
 * the look-alikes a naive pattern would take: bad checksums, versions, dates, order numbers,
 * ordinary words that start like a key prefix.
 */
type Row = readonly [sentence: string, expected: readonly string[]];

const corpus: Readonly<Record<PiiKind, { found: readonly Row[]; ignored: readonly string[] }>> = {
  email: {
    found: [
      ["write to jane.doe+news@example.co.uk today", ["email: jane.doe+news@example.co.uk"]],
      ["JOHN_SMITH@Example.COM.", ["email: JOHN_SMITH@Example.COM"]],
      ["(ops@sub.domain.io)", ["email: ops@sub.domain.io"]],
      ["mailto:anna@firma.de", ["email: anna@firma.de"]],
      ["josé@bücher.de schreibt", ["email: josé@bücher.de"]],
    ],
    ignored: [
      "ping @maria in the channel",
      "npm i @types/node lodash@4.17.21",
      "use icon@2x.png on retina screens",
      "git clone git@github.com:acme/repo.git",
      "user@localhost has no domain",
      "an address like name@example. is incomplete",
    ],
  },
  phone: {
    found: [
      ["call +1 415 555 2671 now", ["phone: +1 415 555 2671"]],
      ["E.164: +14155552671", ["phone: +14155552671"]],
      ["office (415) 555-2671, cell 415.555.2671", ["phone: (415) 555-2671", "phone: 415.555.2671"]],
      ["toll free 1-800-555-0199", ["phone: 1-800-555-0199"]],
      ["London +44 (0)20 7946 0958 or 020 7946 0958", ["phone: +44 (0)20 7946 0958", "phone: 020 7946 0958"]],
      ["Berlin +49 30 1234567, (030) 12345678", ["phone: +49 30 1234567", "phone: (030) 12345678"]],
      ["Paris 01 23 45 67 89", ["phone: 01 23 45 67 89"]],
      ["phone: 4155552671", ["phone: 4155552671"]],
      ["Tel. 0301234567", ["phone: 0301234567"]],
      ["mobile number: 07700900123", ["phone: 07700900123"]],
    ],
    ignored: [
      "order 123456789012 shipped",
      "released 2023-01-15 at 12:30:45",
      "on 01/02/2023 10:30 and 05.06.2023",
      "timestamp 1700000000000",
      "invoice 123-456-7890 (area codes never start with 1)",
      "ISBN 978-3-16-148410-0",
      "the result of 3+12345678 is large",
      "version 1.2.3 and 10.20.30",
    ],
  },
  credit_card: {
    found: [
      ["visa 4111 1111 1111 1111 exp 12/30", ["credit_card: 4111 1111 1111 1111"]],
      ["4111-1111-1111-1111", ["credit_card: 4111-1111-1111-1111"]],
      [
        "mc 5555555555554444 and 2223003122003222",
        ["credit_card: 5555555555554444", "credit_card: 2223003122003222"],
      ],
      ["amex 3782 822463 10005", ["credit_card: 3782 822463 10005"]],
      [
        "discover 6011111111111117, jcb 3530111333300000",
        ["credit_card: 6011111111111117", "credit_card: 3530111333300000"],
      ],
      ["diners 30569309025904", ["credit_card: 30569309025904"]],
    ],
    ignored: [
      "visa 4111 1111 1111 1112 fails Luhn",
      "1234 5678 9012 3456 has no issuer",
      "0000 0000 0000 0000",
      "ref 4111 1111 1111 1111 1111 1111 is too long",
      "timestamp 1700000000000",
    ],
  },
  iban: {
    found: [
      ["IBAN DE89 3704 0044 0532 0130 00 is mine", ["iban: DE89 3704 0044 0532 0130 00"]],
      ["DE89370400440532013000", ["iban: DE89370400440532013000"]],
      ["GB29 NWBK 6016 1331 9268 19", ["iban: GB29 NWBK 6016 1331 9268 19"]],
      ["FR14 2004 1010 0505 0001 3M02 606.", ["iban: FR14 2004 1010 0505 0001 3M02 606"]],
      [
        "NL91ABNA0417164300 and CH9300762011623852957",
        ["iban: NL91ABNA0417164300", "iban: CH9300762011623852957"],
      ],
      [
        "NO9386011117947, MT84MALT011000012345MTLCAST001S",
        ["iban: NO9386011117947", "iban: MT84MALT011000012345MTLCAST001S"],
      ],
      ["lower case de89 3704 0044 0532 0130 00", ["iban: de89 3704 0044 0532 0130 00"]],
    ],
    ignored: [
      "DE89 3704 0044 0532 0130 01 has a bad checksum",
      "XX89 3704 0044 0532 0130 00 has no country",
      "DE89 3704 0044 0532 0130 is too short",
      "GB29NWBK60161331926819X runs on",
    ],
  },
  us_ssn: {
    found: [
      ["SSN 536-22-1234", ["us_ssn: 536-22-1234"]],
      ["number 536 22 1234", ["us_ssn: 536 22 1234"]],
      ["the classic 123-45-6789", ["us_ssn: 123-45-6789"]],
      ["SSN: 536221234", ["us_ssn: 536221234"]],
      ["social security number is 536221234", ["us_ssn: 536221234"]],
    ],
    ignored: [
      "000-12-3456",
      "666-12-3456",
      "900-12-3456",
      "536-00-1234",
      "536-22-0000",
      "078-05-1120 was printed in wallets",
      "219-09-9999",
      "order 536221234 without a label",
      "536-22 1234 mixes separators",
    ],
  },
  ipv4: {
    found: [
      ["server 192.168.1.1 is down", ["ipv4: 192.168.1.1"]],
      ["dns 8.8.8.8, host 203.0.113.7:8080", ["ipv4: 8.8.8.8", "ipv4: 203.0.113.7"]],
      ["cidr 10.0.0.0/8", ["ipv4: 10.0.0.0"]],
    ],
    ignored: ["256.1.1.1", "node 1.2.3.4.5", "version 1.2.3.4", "v1.2.3.4", "01.02.03.04", "semver 1.2.3"],
  },
  ipv6: {
    found: [
      ["addr 2001:db8::8a2e:370:7334 up", ["ipv6: 2001:db8::8a2e:370:7334"]],
      ["2001:0db8:85a3:0000:0000:8a2e:0370:7334", ["ipv6: 2001:0db8:85a3:0000:0000:8a2e:0370:7334"]],
      ["link-local fe80::1.", ["ipv6: fe80::1"]],
      ["mapped ::ffff:192.0.2.128", ["ipv6: ::ffff:192.0.2.128"]],
      ["url http://[2001:db8::1]:443/", ["ipv6: 2001:db8::1"]],
    ],
    ignored: [
      "meet at 12:30:45 or 10:30",
      "std::vector<int> and a::b",
      "mac de:ad:be:ef:00:01",
      "loopback ::1",
      "1:2:3:4:5:6:7:8:9",
      "2001:db8:::1",
    ],
  },
  api_key: {
    found: [
      [
        "OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6l",
        ["api_key: sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6l"],
      ],
      [
        "key sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa_Zx9Yw8Vu7Ts6-AAAA",
        ["api_key: sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa_Zx9Yw8Vu7Ts6-AAAA"],
      ],
      [
        "aws AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A",
        ["api_key: AKIAIOSFODNN7EXAMPLE", "api_key: ASIAY34FZKBOKMUTVV7A"],
      ],
      ["gh ghp_16C7e42F292c6912E7710c838347Ae178B4a", ["api_key: ghp_16C7e42F292c6912E7710c838347Ae178B4a"]],
      [
        "pat github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
        [
          "api_key: github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
        ],
      ],
      ["slack xoxb-2048-4096-abcDEF123ghi", ["api_key: xoxb-2048-4096-abcDEF123ghi"]],
      [
        "google AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        ["api_key: AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"],
      ],
      ["gitlab glpat-xY3zAb5cDe7fGh9iJk1L", ["api_key: glpat-xY3zAb5cDe7fGh9iJk1L"]],
      ["hf hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh", ["api_key: hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"]],
      ["stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", ["api_key: sk_live_4eC39HqLyjWDarjtT1zdp7dc"]],
      ["npm npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", ["api_key: npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"]],
    ],
    ignored: [
      "a task-force and a desk-top",
      "pip install sk-learn",
      "sk-this-is-a-very-long-hyphenated-phrase-without-digits",
      "ASKIAIOSFODNN7EXAMPLE is glued to a word",
      "ghp_short and AIzaShort",
    ],
  },
  jwt: {
    found: [
      [
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        [
          "jwt: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ],
      ],
      ["unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", ["jwt: eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."]],
    ],
    ignored: [
      "a header alone eyJhbGciOiJIUzI1NiJ9",
      // Three segments whose header is JSON without "alg".
      `${Buffer.from('{"typ":"JWT"}').toString("base64url")}.eyJzdWIiOiJ4In0.c2ln`,
    ],
  },
  private_key: {
    found: [
      [
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1b2c3\nd4e5f6==\n-----END RSA PRIVATE KEY-----\nthanks",
        [
          "private_key: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1b2c3\nd4e5f6==\n-----END RSA PRIVATE KEY-----",
        ],
      ],
      [
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        [
          "private_key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        ],
      ],
      [
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----",
        ["private_key: -----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----"],
      ],
      [
        "cut off: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n\nwhat is wrong?",
        ["private_key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF"],
      ],
    ],
    ignored: [
      "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n-----END PUBLIC KEY-----",
      "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
    ],
  },
  secret: {
    found: [
      ["DATABASE_URL=postgres://admin:s3cretPw@db.example.com/app", ["secret: s3cretPw"]],
      ["password=hunter2", ["secret: hunter2"]],
      ['DB_PASSWORD="Tr0ub4dor&3"', ["secret: Tr0ub4dor&3"]],
      ['{"client_secret": "9f8e7d6c5b4a"}', ["secret: 9f8e7d6c5b4a"]],
      ["my password is hunter2, please help", ["secret: hunter2"]],
      ["api_key: abc123def456", ["secret: abc123def456"]],
      [
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ["secret: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
      ],
      ['curl -H "Authorization: Bearer 8f2a9c1e7b3d4f6a0e5c"', ["secret: 8f2a9c1e7b3d4f6a0e5c"]],
    ],
    ignored: [
      "const password = getPassword();",
      "token: process.env.TOKEN",
      'password: "changeme"',
      "password: ********",
      "the password is required",
      'api_key: "YOUR_API_KEY"',
      // A shell or template variable, not a value.
      "password=$" + "{DB_PASSWORD}",
      'password: "[SECRET_1]" was redacted already',
      "max_tokens: 1000",
      "a bearer of good news",
      "Bearer authentication sends a token",
    ],
  },
};

describe("findPii", () => {
  for (const [kind, { found: rows, ignored }] of Object.entries(corpus)) {
    describe(kind, () => {
      for (const [sentence, expected] of rows) {
        it(`finds ${JSON.stringify(sentence)}`, () => {
          expect(found(sentence)).toEqual(expected);
        });
      }
      for (const sentence of ignored) {
        it(`ignores ${JSON.stringify(sentence)}`, () => {
          expect(found(sentence)).toEqual([]);
        });
      }
    });
  }

  describe("overlaps", () => {
    it("reports an IBAN once, not the card number inside it", () => {
      // The account digits of this (valid) IBAN are also a Luhn-valid Maestro number.
      expect(found("6016 1331 9268 13")).toEqual(["credit_card: 6016 1331 9268 13"]);
      expect(found("IBAN GB94 NWBK 6016 1331 9268 13")).toEqual(["iban: GB94 NWBK 6016 1331 9268 13"]);
    });

    it("reports an email address once, not the phone number in its local part", () => {
      expect(found("415-555-2671")).toEqual(["phone: 415-555-2671"]);
      expect(found("415-555-2671@example.com")).toEqual(["email: 415-555-2671@example.com"]);
    });

    it("reports an API key once, not the card number inside it", () => {
      expect(found("4111-1111-1111-1111-AbCd")).toEqual(["credit_card: 4111-1111-1111-1111"]);
      expect(found("sk-4111-1111-1111-1111-AbCdEfGhIjKl")).toEqual([
        "api_key: sk-4111-1111-1111-1111-AbCdEfGhIjKl",
      ]);
    });

    it("reports only the password of a URL, not password@host as an email address", () => {
      expect(found("https://deploy:pa55word@example.com/x")).toEqual(["secret: pa55word"]);
    });

    it("reports an IPv4-mapped IPv6 address once", () => {
      expect(found("mapped 192.0.2.128")).toEqual(["ipv4: 192.0.2.128"]);
      expect(found("::ffff:192.0.2.128")).toEqual(["ipv6: ::ffff:192.0.2.128"]);
    });
  });

  it("returns sorted, non-overlapping findings inside the text for any input", () => {
    const piiLike = fc.constantFrom(
      "4111 1111 1111 1111",
      "jane@example.com",
      "+1 415 555 2671",
      "DE89 3704 0044 0532 0130 00",
      "192.168.0.1",
      "fe80::1",
      "536-22-1234",
      "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t",
      "password=hunter2",
      "-----BEGIN PRIVATE KEY-----",
    );
    const text = fc.array(
      fc.oneof(fc.string({ maxLength: 12 }), piiLike, fc.constantFrom(" ", "-", ".", ":", "@")),
      {
        maxLength: 20,
      },
    );
    fc.assert(
      fc.property(text, (parts) => {
        const joined = parts.join("");
        const findings = findPii(joined);
        let previousEnd = 0;
        for (const finding of findings) {
          expect(finding.start).toBeGreaterThanOrEqual(previousEnd);
          expect(finding.end).toBeGreaterThan(finding.start);
          expect(finding.end).toBeLessThanOrEqual(joined.length);
          previousEnd = finding.end;
        }
      }),
    );
  });

  it("never puts the matched value on a finding", () => {
    for (const finding of findPii("jane@example.com 4111 1111 1111 1111")) {
      expect(Object.keys(finding).sort()).toEqual(["end", "kind", "start"]);
    }
  });
});

describe("scanPii", () => {
  it("counts distinct values per kind across all texts", () => {
    const counts = scanPii([
      "mail jane@example.com and bob@example.com",
      "again jane@example.com, card 4111 1111 1111 1111",
      "nothing here",
    ]);
    expect(counts).toEqual({ email: 2, credit_card: 1 });
  });

  it("returns no kinds for clean text", () => {
    expect(scanPii(["The quarterly report is attached.", ""])).toEqual({});
  });
});
