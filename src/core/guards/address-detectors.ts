import { endsUrlUserinfo } from "./credential-detectors.ts";
import type { PiiFinding } from "./pii-detector.ts";
import { isIpv6 } from "./pii-validators.ts";
import { type Detector, isAlphanumericCode, isWordCode } from "./text-scan.ts";

/**
 * Email and IPv6 addresses hang on a character that is rare in prose ("@", ":"), so these
 * detectors jump from one occurrence to the next with indexOf and look around it, instead of
 * letting a regex try every position.
 */

const LOCAL_PART_CHARS_MAX = 64;
const EMAIL_DOMAIN = /(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,63}(?![\p{L}\p{N}-])/uy;
const NON_ASCII_LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
/** Retina asset names (`icon@2x.png`) are shaped like addresses. */
const ASSET_DOMAIN = /^\d(?:\.\d)?x\.(?:png|jpe?g|gif|webp|svg|avif)$/i;
const DOT = 46;
const COLON = 58;

/**
 * RFC 5322 `atext` symbols a local part may hold besides `. _ % + -` (`sean.o'brien@…`). `/ = ? &`
 * and the backtick are left out: before an "@" they are far more often a URL path, a query string
 * (`?email=jane@…`) or a code span than part of an address.
 */
const LOCAL_PART_SYMBOLS = "'!#$*^{|}~";

function isLocalPartChar(text: string, index: number): boolean {
  const code = text.charCodeAt(index);
  if (isAlphanumericCode(code)) return true;
  if (code === DOT || code === 95 || code === 37 || code === 43 || code === 45) return true; // . _ % + -
  if (code < 128) return LOCAL_PART_SYMBOLS.includes(text.charAt(index));
  return NON_ASCII_LETTER_OR_DIGIT.test(text.charAt(index));
}

/** A local part starts with neither a dot nor a symbol: `'jane@…'` quotes the address, it is not in it. */
function isLocalPartLead(code: number): boolean {
  return code !== DOT && !LOCAL_PART_SYMBOLS.includes(String.fromCharCode(code));
}

function emailAround(text: string, at: number): PiiFinding | undefined {
  let start = at;
  while (start > 0 && at - start <= LOCAL_PART_CHARS_MAX && isLocalPartChar(text, start - 1)) start--;
  if (at - start > LOCAL_PART_CHARS_MAX) return undefined;
  while (start < at && !isLocalPartLead(text.charCodeAt(start))) start++;
  if (start === at || text.charCodeAt(at - 1) === DOT) return undefined;
  EMAIL_DOMAIN.lastIndex = at + 1;
  const domain = EMAIL_DOMAIN.exec(text);
  if (domain === null || ASSET_DOMAIN.test(domain[0])) return undefined;
  const end = at + 1 + domain[0].length;
  // `git@github.com:org/repo.git` is an SSH remote, not a person.
  if (text.charCodeAt(end) === COLON && text.slice(start, at) === "git") return undefined;
  // `scheme://user:password@host`: the local part is (the tail of) a password, reported as a secret.
  if (endsUrlUserinfo(text, at)) return undefined;
  return { kind: "email", start, end };
}

export const detectEmails: Detector = (text, found) => {
  for (let at = text.indexOf("@"); at !== -1; at = text.indexOf("@", at + 1)) {
    const finding = emailAround(text, at);
    if (finding !== undefined) found.push(finding);
  }
};

/** Hex digits, ":" and "." (for an embedded IPv4 tail). */
function isIpv6RunCode(code: number): boolean {
  return (
    (code >= 48 && code <= 58) || (code >= 65 && code <= 70) || (code >= 97 && code <= 102) || code === DOT
  );
}

/**
 * IPv6 candidates are runs of hex digits, colons and dots around a colon, between non-word
 * characters. A run needs a decimal digit and a colon between two hex groups, which keeps `::1`
 * (loopback, not personal) and hex-letter words joined by colons out.
 */
export const detectIpv6: Detector = (text, found) => {
  let colon = text.indexOf(":");
  while (colon !== -1) {
    let start = colon;
    while (start > 0 && isIpv6RunCode(text.charCodeAt(start - 1))) start--;
    let end = colon + 1;
    while (end < text.length && isIpv6RunCode(text.charCodeAt(end))) end++;
    while (end > start && text.charCodeAt(end - 1) === DOT) end--;
    if (!isWordCode(text.charCodeAt(start - 1)) && !isWordCode(text.charCodeAt(end))) {
      const run = text.slice(start, end);
      if (/\d/.test(run) && /[0-9A-Fa-f]:+[0-9A-Fa-f]/.test(run) && isIpv6(run))
        found.push({ kind: "ipv6", start, end });
    }
    colon = text.indexOf(":", Math.max(end, colon + 1));
  }
};
