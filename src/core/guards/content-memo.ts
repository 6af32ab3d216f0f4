import { hash } from "node:crypto";

/** Shorter texts are scanned every time: hashing them would cost about as much as the scan. */
const MEMO_CHARS_MIN = 1024;
/** Distinct long texts remembered per scanner (least recently used go first). */
const MEMO_ENTRIES_MAX = 2048;

/**
 * Remembers a scanner's findings for long texts by their content, so an agent that re-sends its
 * whole conversation every turn pays for scanning each message once, not once per turn (scanning
 * costs ~15 µs per KiB). Entries are keyed by a SHA-256 digest and hold only positions and kinds:
 * the memo keeps no prompt text. Findings are frozen and each caller gets its own array.
 */
export function memoByContent<T extends object>(scan: (text: string) => T[]): (text: string) => T[] {
  const memo = new Map<string, readonly T[]>();
  return (text: string): T[] => {
    // A lone surrogate encodes like U+FFFD, so only well-formed text has a digest of its own.
    if (text.length < MEMO_CHARS_MIN || !text.isWellFormed()) return scan(text);
    const key = digestOf(text);
    let findings = memo.get(key);
    if (findings === undefined) {
      findings = Object.freeze(scan(text).map((finding) => Object.freeze(finding)));
      if (memo.size >= MEMO_ENTRIES_MAX) memo.delete(memo.keys().next().value as string);
    } else {
      memo.delete(key);
    }
    memo.set(key, findings);
    return [...findings];
  };
}

/**
 * Digests taken in this turn of the event loop: each scanner of a call's prompt looks up the same
 * texts, and one SHA-256 per text serves them all. Cleared at the next turn, so texts are held no
 * longer than the call that is being checked holds them anyway.
 */
const turnDigests = new Map<string, string>();

function digestOf(text: string): string {
  let digest = turnDigests.get(text);
  if (digest === undefined) {
    digest = hash("sha256", text, "base64");
    if (turnDigests.size === 0) setImmediate(() => turnDigests.clear());
    turnDigests.set(text, digest);
  }
  return digest;
}
