import { Buffer } from "node:buffer";
import { IBAN_LENGTH_BY_COUNTRY } from "./iban-lengths.ts";

/**
 * Checks that turn a regex candidate into a finding. A pattern alone cannot tell a card number from
 * an order number or an IP address from a version string; these checksums and rules can, cheaply.
 * Every function takes the candidate exactly as matched and allocates little.
 */

const ZERO = 48;

function isDigitCode(code: number): boolean {
  return code >= ZERO && code <= ZERO + 9;
}

/** The digits of `text` in order, separators dropped. */
export function digitsOf(text: string): string {
  let digits = "";
  for (let i = 0; i < text.length; i++) {
    if (isDigitCode(text.charCodeAt(i))) digits += text[i];
  }
  return digits;
}

/** ISO/IEC 7812 Luhn checksum over a string of digits. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let digit = digits.charCodeAt(i) - ZERO;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Whether the issuer prefix (IIN) and length belong to a card network in use. Luhn alone accepts one
 * random number in ten; the prefix table is what keeps timestamps and account numbers out.
 */
function isKnownCardPrefix(digits: string): boolean {
  const length = digits.length;
  const two = Number(digits.slice(0, 2));
  const three = Number(digits.slice(0, 3));
  const four = Number(digits.slice(0, 4));
  const anyLength = length >= 13 && length <= 19;
  const longLength = length >= 16 && length <= 19;
  if (digits[0] === "4") return length === 13 || length === 16 || length === 19; // Visa
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return length === 16; // Mastercard
  if (two === 34 || two === 37) return length === 15; // American Express
  if ((three >= 300 && three <= 305) || two === 36 || two === 38 || two === 39)
    return length >= 14 && anyLength; // Diners
  if (four >= 3528 && four <= 3589) return longLength; // JCB
  if (four >= 2200 && four <= 2204) return longLength; // Mir
  if (two === 50 || (two >= 56 && two <= 69)) return anyLength; // Maestro, Discover, UnionPay, RuPay
  if (two === 81 || two === 82) return length === 16; // RuPay
  return false;
}

/** A payment card number: 13–19 digits, a known issuer prefix, a valid Luhn checksum. */
export function isCardNumber(candidate: string): boolean {
  const digits = digitsOf(candidate);
  if (digits.length < 13 || digits.length > 19) return false;
  if (/^(\d)\1+$/.test(digits)) return false;
  return isKnownCardPrefix(digits) && passesLuhn(digits);
}

/** ISO 7064 mod 97-10 over an IBAN in electronic form (no spaces, upper case): the remainder must be 1. */
function ibanRemainder(iban: string): number {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const code = rearranged.charCodeAt(i);
    if (isDigitCode(code)) {
      remainder = (remainder * 10 + (code - ZERO)) % 97;
    } else {
      // A letter stands for two digits: A = 10 … Z = 35.
      remainder = (remainder * 100 + (code - 55)) % 97;
    }
  }
  return remainder;
}

/**
 * How many characters (spaces included) of `candidate` form an IBAN, or 0 when it does not start
 * with one. The candidate may run on into the next word ("DE89 … 00 IS MINE"); the country's length
 * says where the IBAN ends, and the IBAN must end at a word boundary there.
 */
export function ibanLengthAt(candidate: string): number {
  const country = candidate.slice(0, 2).toUpperCase();
  const length = IBAN_LENGTH_BY_COUNTRY.get(country);
  if (length === undefined) return 0;
  let compact = "";
  let end = 0;
  while (end < candidate.length && compact.length < length) {
    const char = candidate[end] as string;
    if (char !== " ") compact += char.toUpperCase();
    end++;
  }
  if (compact.length !== length) return 0;
  const next = candidate.charCodeAt(end);
  if (isDigitCode(next) || isLetterCode(next)) return 0;
  return ibanRemainder(compact) === 1 ? end : 0;
}

function isLetterCode(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** Numbers the SSA never issued although they were printed widely (a wallet insert, a 1940s pamphlet). */
const NEVER_ISSUED_SSNS: ReadonlySet<string> = new Set(["078051120", "219099999"]);

/**
 * US Social Security number rules: area (first three digits) not 000, 666 or 900–999; group (middle
 * two) not 00; serial (last four) not 0000.
 */
export function isUsSsn(candidate: string): boolean {
  const digits = digitsOf(candidate);
  if (digits.length !== 9) return false;
  const area = digits.slice(0, 3);
  if (area === "000" || area === "666" || area[0] === "9") return false;
  if (digits.slice(3, 5) === "00" || digits.slice(5) === "0000") return false;
  return !NEVER_ISSUED_SSNS.has(digits);
}

/** Dotted-quad IPv4: four decimal octets 0–255 without leading zeros (which some parsers read as octal). */
export function isIpv4(candidate: string): boolean {
  const octets = candidate.split(".");
  if (octets.length !== 4) return false;
  for (const octet of octets) {
    if (octet.length === 0 || octet.length > 3) return false;
    if (octet.length > 1 && octet[0] === "0") return false;
    for (let i = 0; i < octet.length; i++) if (!isDigitCode(octet.charCodeAt(i))) return false;
    if (Number(octet) > 255) return false;
  }
  return true;
}

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

function allHexGroups(part: string): number {
  if (part === "") return 0;
  const groups = part.split(":");
  for (const group of groups) if (!HEX_GROUP.test(group)) return -1;
  return groups.length;
}

/** IPv6 in full, compressed (`::`) or IPv4-embedded (`::ffff:192.0.2.1`) form, per RFC 4291 §2.2. */
export function isIpv6(candidate: string): boolean {
  let head = candidate;
  let groupsNeeded = 8;
  const lastColon = candidate.lastIndexOf(":");
  if (lastColon === -1) return false;
  if (candidate.includes(".", lastColon)) {
    if (!isIpv4(candidate.slice(lastColon + 1))) return false;
    // Keep a trailing "::" intact; drop the single colon before the IPv4 tail.
    head =
      candidate[lastColon - 1] === ":" ? candidate.slice(0, lastColon + 1) : candidate.slice(0, lastColon);
    groupsNeeded = 6;
  }
  const compressed = head.indexOf("::");
  if (compressed === -1) return allHexGroups(head) === groupsNeeded;
  if (head.indexOf("::", compressed + 1) !== -1) return false;
  const left = allHexGroups(head.slice(0, compressed));
  const right = allHexGroups(head.slice(compressed + 2));
  if (left < 0 || right < 0) return false;
  return left + right < groupsNeeded;
}

/** A JWT's first segment must be base64url JSON naming its signing algorithm. */
export function hasJwtHeader(segment: string): boolean {
  if (segment.length > 2048) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return (
      typeof header === "object" && header !== null && typeof (header as { alg?: unknown }).alg === "string"
    );
  } catch {
    return false;
  }
}
