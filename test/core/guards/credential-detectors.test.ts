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
