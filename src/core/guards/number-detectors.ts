import type { PiiKind } from "./pii-detector.ts";
import { digitsOf, ibanLengthAt, isCardNumber, isIpv4, isUsSsn } from "./pii-validators.ts";
import { type Detector, eachMatch, labelBefore } from "./text-scan.ts";

/**
 * Card numbers, SSNs, phone numbers and IPv4 addresses are all runs of digits and separators. One
 * pass finds those runs ("numeric clusters"); the patterns for each kind then run on the clusters
 * only, with a little context either side for their boundary checks. Ordinary text has few
 * clusters long enough to matter, so this costs about one regex pass instead of one per pattern.
 */
const NUMERIC_CLUSTER = /[+(]{0,3}\d(?:[\d ()./+-]*\d)?/g;
/** The shortest value any rule below accepts: an IPv4 address such as `1.2.3.4`. */
const CLUSTER_CHARS_MIN = 7;
/** The longest lookbehind or lookahead in the rules below, in characters. */
const BOUNDARY_CONTEXT_CHARS = 2;
/** How far before a bare number its label ("phone:", "SSN") may start. */
const LABEL_CONTEXT_CHARS = 40;

/** `+CC …` in E.164 or with spaces, dots, dashes and a parenthesised area or trunk code. */
const PHONE_INTERNATIONAL = /(?<![\w+)])\+\d(?:[ .-]?(?:\d|\(\d{1,4}\)))+(?!\w)/g;
/** North American `(415) 555-2671`, `415-555-2671`, `1 415.555.2671`: separators required. */
const PHONE_NANP =
  /(?<![\w+.-]|\d[ .-])(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w]|[.-]\d| \d)/g;
/** National numbers with a trunk 0 and separators: `030 1234567`, `020 7946 0958`, `01 23 45 67 89`. */
const PHONE_NATIONAL =
  /(?<![\w+./-]|\d[ ])(?:\(0[1-9]\d{0,3}\)|0[1-9]\d{0,3})(?:[ ./-]\d{2,8}){1,4}(?![\w:]|[ ./-]\d)/g;
/** Digits without the separators above count as a phone number only after a label that says so. */
const PHONE_DIGITS = /(?<![\w+]|\d[ ./-])\+?\d(?:[ ./-]?\d){6,14}(?![\w]|[ ./-]?\d)/g;
/** Labels may be quoted, as JSON keys and tool data are (`"phone": "4155552671"`). */
const PHONE_LABEL =
  /\b(?:tel(?:ephone)?|phone|mobile|cell(?:phone)?|fax|whatsapp)(?:[^\S\r\n]*(?:number|no\.?|nr\.?|#))?["']?[^\S\r\n]*[:.=]?[^\S\r\n]*["']?$/i;

/** Not after or before `digit.`: the fraction digits of a float (`0.2296890672016048`) are no card. */
const CARD = /(?<![\w]|\d[ -]|\d\.)\d(?:[ -]?\d){12,18}(?![\w]|[ -]\d|\.\d)/g;
/** A date after the number (`123-45-6789 04/12/1985`) does not make it part of a longer one. */
const SSN = /(?<![\w-]|\d )\d{3}([- ])\d{2}\1\d{4}(?![\w]|-\d|[ ]\d(?!\d{0,3}[/.-]\d))/g;
const SSN_DIGITS = /(?<![\w-])\d{9}(?![\w-])/g;
const SSN_LABEL =
  /\b(?:ssn|social[^\S\r\n]+security(?:[^\S\r\n]+(?:number|no\.?|#))?)["']?[^\S\r\n]*(?:is|:|#|=)?[^\S\r\n]*["']?$/i;

const IPV4 = /(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)/g;
/** "version 1.2.3.4" is a version, not a host. */
const VERSION_LABEL = /\b(?:version|ver\.?|release|build)["']?\s*[:=]?\s*["']?$/i;

function isInternationalPhone(value: string): boolean {
  const digits = digitsOf(value).length - (value.includes("(0)") ? 1 : 0);
  return digits >= 8 && digits <= 15;
}

function isNanpPhone(value: string): boolean {
  const digits = digitsOf(value);
  const areaCodeFirstDigit = digits.length === 11 ? digits[1] : digits[0];
  return areaCodeFirstDigit !== undefined && areaCodeFirstDigit >= "2";
}

function isNationalPhone(value: string): boolean {
  const digits = digitsOf(value).length;
  if (digits < 10 || digits > 12) return false;
  // Dots separate French-style pairs (01.23.45.67.89); elsewhere they mean dates and versions.
  return !value.includes(".") || /^0\d(?:\.\d\d){4}$/.test(value);
}

/**
 * The card number a CARD candidate starts with, as its length (0: none). When the whole candidate
 * fails, its leading groups are tried, longest first, since an expiry date or CVV often follows the
 * number ("4111 1111 1111 1111 12/26", "4111111111111111 123") and the candidate takes it in.
 */
function cardLength(value: string, start: number, text: string): number {
  if (value.includes("-") && insideUuid(text, start, start + value.length)) return 0;
  for (let end = value.length; end > 0; end = lastSeparatorBefore(value, end)) {
    if (isCardNumber(value.slice(0, end))) return end;
  }
  return 0;
}

function lastSeparatorBefore(value: string, end: number): number {
  return Math.max(value.lastIndexOf(" ", end - 1), value.lastIndexOf("-", end - 1));
}

const UUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;
const UUID_CHARS = 36;

/**
 * Whether a dash-grouped number is part of a UUID (`36419984-5845-4752-a1b2-c3d4e5f6a7b8`), whose
 * leading groups are decimal often enough to pass Luhn and an issuer prefix now and then.
 */
function insideUuid(text: string, start: number, end: number): boolean {
  let from = start;
  while (start - from < UUID_CHARS && isHexOrDash(text.charCodeAt(from - 1))) from--;
  let to = end;
  while (to - from < UUID_CHARS && isHexOrDash(text.charCodeAt(to))) to++;
  return to - from === UUID_CHARS && UUID.test(text.slice(from, to));
}

function isHexOrDash(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || (code >= 65 && code <= 70) || (code >= 97 && code <= 102) || code === 45
  );
}

interface NumberRule {
  kind: PiiKind;
  pattern: RegExp;
  /**
   * How much of `value` (from its start) is a finding, 0 for none. `start` is the value's offset in
   * `text`, the whole text being scanned.
   */
  accept: (value: string, start: number, text: string) => number;
}

/** A rule that takes its candidate whole or not at all. */
function whole(test: (value: string, start: number, text: string) => boolean): NumberRule["accept"] {
  return (value, start, text) => (test(value, start, text) ? value.length : 0);
}

const NUMBER_RULES: readonly NumberRule[] = [
  { kind: "credit_card", pattern: CARD, accept: cardLength },
  { kind: "us_ssn", pattern: SSN, accept: whole(isUsSsn) },
  {
    kind: "us_ssn",
    pattern: SSN_DIGITS,
    accept: whole(
      (value, start, text) => isUsSsn(value) && labelBefore(text, start, SSN_LABEL, LABEL_CONTEXT_CHARS),
    ),
  },
  {
    kind: "ipv4",
    pattern: IPV4,
    accept: whole((value, start, text) => isIpv4(value) && !labelBefore(text, start, VERSION_LABEL, 12)),
  },
  { kind: "phone", pattern: PHONE_INTERNATIONAL, accept: whole(isInternationalPhone) },
  { kind: "phone", pattern: PHONE_NANP, accept: whole(isNanpPhone) },
  { kind: "phone", pattern: PHONE_NATIONAL, accept: whole(isNationalPhone) },
  {
    kind: "phone",
    pattern: PHONE_DIGITS,
    accept: whole((_value, start, text) => labelBefore(text, start, PHONE_LABEL, LABEL_CONTEXT_CHARS)),
  },
];

export const detectNumbers: Detector = (text, found) =>
  eachMatch(NUMERIC_CLUSTER, text, (cluster) => {
    if (cluster[0].length < CLUSTER_CHARS_MIN) return;
    const from = Math.max(0, cluster.index - BOUNDARY_CONTEXT_CHARS);
    const window = text.slice(from, cluster.index + cluster[0].length + BOUNDARY_CONTEXT_CHARS);
    for (const rule of NUMBER_RULES) {
      eachMatch(rule.pattern, window, (match) => {
        const start = from + match.index;
        const length = rule.accept(match[0], start, text);
        if (length > 0) found.push({ kind: rule.kind, start, end: start + length });
      });
    }
  });

/** IBANs mix letters and digits, so they get their own pass: a country code, two check digits, the rest. */
const IBAN_CANDIDATE = /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,40}/g;

export const detectIbans: Detector = (text, found) =>
  eachMatch(IBAN_CANDIDATE, text, (match) => {
    const length = ibanLengthAt(match[0]);
    if (length > 0) found.push({ kind: "iban", start: match.index, end: match.index + length });
    // The candidate may have run on into the next word, which can start another IBAN.
    IBAN_CANDIDATE.lastIndex = match.index + Math.max(length, 1);
  });
