import { describe, expect, it } from "vitest";
import { findPii } from "../../../src/core/guards/pii-detector.ts";
import { Redactor } from "../../../src/core/guards/redactor.ts";

function found(text: string): string[] {
  return findPii(text).map((finding) => `${finding.kind}: ${text.slice(finding.start, finding.end)}`);
}

describe("secret: a labelled value in JSON source", () => {
  it("stops a bare value before an escaped quote, so redaction keeps the JSON valid", () => {
    const source = JSON.stringify({ command: 'psql "host=db user=app password=Pa55word" -c "select 1"' });
    expect(found(source)).toEqual(["secret: Pa55word"]);
    expect(JSON.parse(new Redactor().redact(source))).toEqual({
      command: 'psql "host=db user=app password=[SECRET_1]" -c "select 1"',
    });
  });

  it("never ends a value on a backslash", () => {
    expect(found('{"password": "abcdef\\"ghi"}')).toEqual([]);
    for (const finding of findPii('secret=abc\\\\def1\\" x')) {
      expect('secret=abc\\\\def1\\" x'[finding.end - 1]).not.toBe("\\");
    }
  });
});

describe("secret: a labelled value in quotes, as tool data is read", () => {
  it("takes a password of letters and symbols in quotes, as a bare one needs a digit", () => {
    expect(found('password: "Summer!Sunset#"')).toEqual(["secret: Summer!Sunset#"]);
    expect(found("password: Summer!Sunset#")).toEqual([]);
  });

  it("does not take a URL without a password or a file path for the secret it points to", () => {
    expect(found('password_reset_url: "https://app.example.com/reset"')).toEqual([]);
    expect(found("secret_file=/run/secrets/db1")).toEqual([]);
    expect(found('api_key_path: "~/.config/app/key"')).toEqual([]);
    // A path-like value with symbols a path does not hold is still a secret.
    expect(found('password: "/Xk9#pw!"')).toEqual(["secret: /Xk9#pw!"]);
  });
});

describe("secret: the password of a URL", () => {
  it("is one secret whatever sub-delimiters it holds, not an email made of its tail and the host", () => {
    for (const password of ["S3cret;Key9", "S3cret,Key9", "S3cret(Key9)", "S3cret&Key=9"]) {
      expect(found(`DATABASE_URL=postgres://app:${password}@db.internal.example.com:5432/app`)).toEqual([
        `secret: ${password}`,
      ]);
    }
  });

  it("leaves an address in a URL's path or query an email", () => {
    expect(found("https://example.com/contact?to=jane@example.com")).toEqual(["email: jane@example.com"]);
    expect(found("https://example.com/u:x/jane@example.com")).toEqual(["email: jane@example.com"]);
  });
});
