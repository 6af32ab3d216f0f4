import type { PiiKind } from "./pii-detector.ts";
import { hasJwtHeader } from "./pii-validators.ts";
import { API_KEY_PATTERNS } from "./secret-patterns.ts";
import { type Detector, eachMatch, isAlphanumericCode } from "./text-scan.ts";

/**
 * Credentials: API keys by issuer prefix, JWTs, private key blocks, and secrets recognised by their
 * label (`password=…`, `Bearer …`) or their place in a URL (`user:password@`).
 */

const API_KEY = new RegExp(`\\b(?:${API_KEY_PATTERNS.map((pattern) => pattern.source).join("|")})`, "g");

export const detectApiKeys: Detector = (text, found) =>
  eachMatch(API_KEY, text, (match) => {
    const start = match.index;
    const end = start + match[0].length;
    if (isAlphanumericCode(text.charCodeAt(start - 1)) || isAlphanumericCode(text.charCodeAt(end))) return;
    // "sk-" also starts ordinary hyphenated words; real keys are random and contain digits.
    if (match[0].startsWith("sk-") && !/\d/.test(match[0])) return;
    found.push({ kind: "api_key", start, end });
  });

const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;

export const detectJwts: Detector = (text, found) =>
  eachMatch(JWT, text, (match) => {
    if (hasJwtHeader(match[0].slice(0, match[0].indexOf(".")))) {
      found.push({ kind: "jwt", start: match.index, end: match.index + match[0].length });
    }
  });

const PRIVATE_KEY_BEGIN = /-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----/g;
const PRIVATE_KEY_END = /-----END (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----/g;
/**
 * Base64 body lines, also when the newlines arrive escaped as `\n` in pasted JSON; a blank line
 * ends the body.
 */
const PRIVATE_KEY_BODY = /(?:(?:\r?\n|\\n)[A-Za-z0-9+/=]+)*/y;
const PRIVATE_KEY_CHARS_MAX = 100_000;

/**
 * A key block to its END line, or to the end of its base64 body when the END line was cut off. The
 * next END line is looked up once and reused, so many BEGIN lines cost one scan, not one each.
 */
export const detectPrivateKeys: Detector = (text, found) => {
  let nextEnd: RegExpExecArray | null | undefined;
  PRIVATE_KEY_BEGIN.lastIndex = 0;
  for (let begin = PRIVATE_KEY_BEGIN.exec(text); begin !== null; begin = PRIVATE_KEY_BEGIN.exec(text)) {
    const bodyStart = begin.index + begin[0].length;
    if (nextEnd === undefined || (nextEnd !== null && nextEnd.index < bodyStart)) {
      PRIVATE_KEY_END.lastIndex = bodyStart;
      nextEnd = PRIVATE_KEY_END.exec(text);
    }
    let end: number;
    if (nextEnd !== null && nextEnd.index - begin.index <= PRIVATE_KEY_CHARS_MAX) {
      end = nextEnd.index + nextEnd[0].length;
    } else {
      PRIVATE_KEY_BODY.lastIndex = bodyStart;
      end = bodyStart + (PRIVATE_KEY_BODY.exec(text)?.[0].length ?? 0);
    }
    found.push({ kind: "private_key", start: begin.index, end });
    PRIVATE_KEY_BEGIN.lastIndex = end;
  }
};

/**
 * A detector for "label: value" patterns (compiled with the `d` flag): the first capture group that
 * matched is the value, and only the value is a finding, so the label stays readable for the model.
 */
function labelledValueDetector(
  kind: PiiKind,
  pattern: RegExp,
  accept: (value: string, match: RegExpExecArray) => boolean,
): Detector {
  return (text, found) =>
    eachMatch(pattern, text, (match) => {
      for (let group = 1; group < match.length; group++) {
        const span = match.indices?.[group];
        if (span === undefined) continue;
        if (accept(match[group] ?? "", match)) found.push({ kind, start: span[0], end: span[1] });
        return;
      }
    });
}

/** `scheme://user:password@host`: only the password is reported. */
const URL_PASSWORD = /:\/\/[^\s/?#@:]{0,128}:([^\s/?#@]{1,256})@/dg;
const URL_USERINFO = new RegExp(URL_PASSWORD.source, "y");
/** From `://` to the `@` of the longest `user:password@` URL_PASSWORD reads. */
const URL_USERINFO_CHARS_MAX = 3 + 128 + 1 + 256;

export const detectUrlPasswords = labelledValueDetector("secret", URL_PASSWORD, () => true);

/**
 * Whether the "@" at `at` ends the `user:password@` of a URL, whose password detectUrlPasswords
 * reports: then it does not start a host of an email address (`app:S3cret;Key9@db.example.com`).
 */
export function endsUrlUserinfo(text: string, at: number): boolean {
  const windowStart = Math.max(0, at - URL_USERINFO_CHARS_MAX);
  const scheme = text.slice(windowStart, at).lastIndexOf("://");
  if (scheme === -1) return false;
  URL_USERINFO.lastIndex = windowStart + scheme;
  const match = URL_USERINFO.exec(text);
  return match !== null && match.index + match[0].length === at + 1;
}

/** `Authorization: Bearer <opaque token>`, as pasted from curl commands and HTTP logs. */
const BEARER_TOKEN = /\b[Bb]earer[ \t]+([A-Za-z0-9._~+/-]{16,}=*)/dg;

export const detectBearerTokens = labelledValueDetector(
  "secret",
  BEARER_TOKEN,
  (token) => /\d/.test(token) && /[A-Za-z]/.test(token),
);

/**
 * `password=…`, `"client_secret": "…"`, `api_key: …`, `my password is …`: the value after a label
 * that names a credential. Quoted values must not look like a word or an identifier ("changeme",
 * "YOUR_API_KEY"); bare values must mix letters and digits, which keeps code such as
 * `password = getPassword()` and `token: process.env.TOKEN` out. A value never ends on a
 * backslash, so in JSON source (`\"password=abc123\"`) it stops before an escaped quote and a
 * placeholder never splits an escape sequence.
 */
const LABELLED_SECRET =
  /(?:password|passwd|passphrase|pwd|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token|client[_-]?secret)[A-Za-z0-9_-]{0,40}["']?[^\S\r\n]{0,3}(?::=|=>|:|=|[^\S\r\n]+is:?)[^\S\r\n]{0,3}(?:"([^"\s]{5,199}[^"\s\\])"|'([^'\s]{5,199}[^'\s\\])'|([^\s"'`,;(){}[\]<>]{5,199}[^\s"'`,;(){}[\]<>\\]))(?=$|[\s"'`,;)}\]]|\\["'])/dgi;
/** A value that is itself one of our placeholders was redacted already. */
const PLACEHOLDER_LIKE = /^\[[A-Z0-9_]+_\d+\]$/;
/**
 * Where a secret is kept, not the secret (`"password_reset_url": "https://…/reset"`): a URL without
 * a password (detectUrlPasswords reads one that has it) or a file path.
 */
const LOCATION = /^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s@]*|~?\.{0,2}\/[\w./-]*)$/;

function isSecretValue(value: string, match: RegExpExecArray): boolean {
  if (/^[$%<{]/.test(value) || /^(.)\1+$/.test(value) || PLACEHOLDER_LIKE.test(value)) return false;
  if (LOCATION.test(value)) return false;
  const quoted = match[3] === undefined;
  if (quoted) return !/^[A-Za-z_.-]+$/.test(value);
  return /\d/.test(value) && /[A-Za-z]/.test(value);
}

export const detectLabelledSecrets = labelledValueDetector("secret", LABELLED_SECRET, isSecretValue);
