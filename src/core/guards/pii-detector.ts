import { detectEmails, detectIpv6 } from "./address-detectors.ts";
import { memoByContent } from "./content-memo.ts";
import {
  detectApiKeys,
  detectBearerTokens,
  detectJwts,
  detectLabelledSecrets,
  detectPrivateKeys,
  detectUrlPasswords,
} from "./credential-detectors.ts";
import { detectIbans, detectNumbers } from "./number-detectors.ts";
import { type Detector, eachRecord } from "./text-scan.ts";

/**
 * Finds personal data and credentials in one prompt text. Each detector is a cheap candidate scan
 * (a precompiled regex, or an indexOf on a rare anchor character such as "@" or ":") followed by a
 * validator, so a pattern-shaped number is reported only when its checksum or rules hold. Every
 * regex is linear in its input: runs are anchored at their first character by a lookbehind, and no
 * repeated group can split the same input two ways. Detectors are grouped by what they look for:
 * number-detectors.ts, address-detectors.ts, credential-detectors.ts.
 *
 * Kinds:
 * - `email`, `phone`, `credit_card` (Luhn + issuer prefix), `iban` (country length + mod 97),
 *   `us_ssn`, `ipv4`, `ipv6`;
 * - `api_key`: a credential recognised by its issuer's prefix (OpenAI, Anthropic, AWS, GitHub, …);
 * - `jwt`: a signed JSON Web Token; `private_key`: a PEM / OpenSSH / PGP private key block;
 * - `secret`: a credential recognised by its label rather than a prefix (`password=…`,
 *   `client_secret: "…"`, `Bearer …`), or the password in a URL's `user:password@`.
 */
export type PiiKind =
  | "email"
  | "phone"
  | "credit_card"
  | "iban"
  | "us_ssn"
  | "ipv4"
  | "ipv6"
  | "api_key"
  | "jwt"
  | "private_key"
  | "secret";

/** A match in UTF-16 code units, `end` exclusive. Findings never carry the matched value. */
export interface PiiFinding {
  kind: PiiKind;
  start: number;
  end: number;
}

export type PiiCounts = Partial<Record<PiiKind, number>>;

/**
 * When two candidates overlap, the longer wins (a card number inside an IBAN, a phone-like run
 * inside an API key); at equal length the more specific kind, in this order, wins.
 */
const PRIORITY: Readonly<Record<PiiKind, number>> = {
  private_key: 0,
  jwt: 1,
  api_key: 2,
  secret: 3,
  credit_card: 4,
  iban: 5,
  email: 6,
  us_ssn: 7,
  ipv6: 8,
  ipv4: 9,
  phone: 10,
};

const DETECTORS: readonly Detector[] = [
  detectPrivateKeys,
  detectJwts,
  detectApiKeys,
  detectUrlPasswords,
  detectBearerTokens,
  detectLabelledSecrets,
  detectNumbers,
  detectIbans,
  detectEmails,
  detectIpv6,
];

function longerThenSpecific(a: PiiFinding, b: PiiFinding): number {
  return b.end - b.start - (a.end - a.start) || PRIORITY[a.kind] - PRIORITY[b.kind] || a.start - b.start;
}

/** Picks non-overlapping findings from one group of mutually overlapping candidates. */
function pickFromCluster(cluster: PiiFinding[], picked: PiiFinding[]): void {
  cluster.sort(longerThenSpecific);
  const chosen: PiiFinding[] = [];
  for (const candidate of cluster) {
    if (chosen.every((other) => candidate.end <= other.start || candidate.start >= other.end))
      chosen.push(candidate);
  }
  chosen.sort((a, b) => a.start - b.start);
  picked.push(...chosen);
}

function resolveOverlaps(candidates: PiiFinding[]): PiiFinding[] {
  candidates.sort((a, b) => a.start - b.start || b.end - a.end);
  const picked: PiiFinding[] = [];
  let first = 0;
  while (first < candidates.length) {
    let clusterEnd = (candidates[first] as PiiFinding).end;
    let next = first + 1;
    while (next < candidates.length && (candidates[next] as PiiFinding).start < clusterEnd) {
      clusterEnd = Math.max(clusterEnd, (candidates[next] as PiiFinding).end);
      next++;
    }
    if (next === first + 1) picked.push(candidates[first] as PiiFinding);
    else pickFromCluster(candidates.slice(first, next), picked);
    first = next;
  }
  return picked;
}

/** Every finding in `text`, sorted by start, none overlapping and none across a record separator. */
export const findPii: (text: string) => PiiFinding[] = memoByContent(
  eachRecord((text) => {
    const candidates: PiiFinding[] = [];
    for (const detect of DETECTORS) detect(text, candidates);
    return resolveOverlaps(candidates);
  }),
);

/**
 * How many distinct values of each kind the texts contain, for `warn` and `block` modes and the
 * audit log. Counts distinct values (not occurrences) so the numbers match what `redact` reports.
 */
export function scanPii(texts: readonly string[]): PiiCounts {
  const valuesByKind = new Map<PiiKind, Set<string>>();
  for (const text of texts) {
    for (const finding of findPii(text)) {
      let values = valuesByKind.get(finding.kind);
      if (values === undefined) {
        values = new Set();
        valuesByKind.set(finding.kind, values);
      }
      values.add(text.slice(finding.start, finding.end));
    }
  }
  const counts: PiiCounts = {};
  for (const [kind, values] of valuesByKind) counts[kind] = values.size;
  return counts;
}
