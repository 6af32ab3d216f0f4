import { Buffer } from "node:buffer";

/**
 * A copy of a text for phrase matching, in which characters that look like plain letters are plain
 * letters: NFKC-normalised (full-width `Ｉｇｎｏｒｅ`, ligatures and other compatibility forms become
 * their ASCII letters) and without default-ignorable code points (zero-width spaces and joiners,
 * soft hyphens, variation selectors, bidi controls), which render as nothing and so can split a
 * phrase without a reader seeing it. Look-alike letters of other scripts (Cyrillic `о` for Latin
 * `o`) are not mapped: NFKC keeps them apart and a confusables table is a project of its own.
 */
export interface NormalizedCopy {
  readonly text: string;
  /** The offset in the original text of a finding that starts at `index` in the copy. */
  originalStart(index: number): number;
  /** The offset in the original text of a finding that ends (exclusive) at `index` in the copy. */
  originalEnd(index: number): number;
}

const NON_ASCII_RUN = /[\u0080-\uffff]+/g;
const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;
const DEFAULT_IGNORABLES = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * Where the copy's offsets stop running parallel to the original's. ASCII is copied as it is, and
 * so is the offset relation across a non-ASCII run that kept its length (full-width letters do);
 * any other run (invisible characters dropped, a ligature expanded) is a segment of its own, and
 * offsets inside it map to its ends.
 */
interface Segment {
  originalStart: number;
  originalEnd: number;
  copyStart: number;
  copyEnd: number;
  exact: boolean;
}

/** The normalised copy of `text`, or undefined when it would equal `text` (all ASCII, most prose). */
export function normalizedCopyOf(text: string): NormalizedCopy | undefined {
  // One UTF-8 byte per character: all ASCII, which NFKC keeps and which has no invisible characters.
  if (Buffer.byteLength(text, "utf8") === text.length) return undefined;
  const hasIgnorable = DEFAULT_IGNORABLE.test(text);
  if ((hasIgnorable ? text.replace(DEFAULT_IGNORABLES, "") : text).normalize("NFKC") === text)
    return undefined;
  const segments: Segment[] = [];
  let copy = "";
  let segmentStart = 0;
  const close = (originalEnd: number, exact: boolean): void => {
    const last = segments.at(-1);
    const copyStart = last?.copyEnd ?? 0;
    segments.push({ originalStart: segmentStart, originalEnd, copyStart, copyEnd: copy.length, exact });
    segmentStart = originalEnd;
  };
  let copied = 0;
  NON_ASCII_RUN.lastIndex = 0;
  for (let run = NON_ASCII_RUN.exec(text); run !== null; run = NON_ASCII_RUN.exec(text)) {
    const visible = hasIgnorable ? run[0].replace(DEFAULT_IGNORABLES, "") : run[0];
    const normalized = visible.normalize("NFKC");
    copy += text.slice(copied, run.index);
    copied = run.index + run[0].length;
    if (visible.length === run[0].length && normalized.length === visible.length) {
      copy += normalized;
      continue;
    }
    if (run.index > segmentStart) close(run.index, true);
    copy += normalized;
    close(copied, false);
  }
  copy += text.slice(copied);
  close(text.length, true);
  return {
    text: copy,
    originalStart: (index) => {
      const segment = segmentAt(segments, index, false);
      if (segment === undefined) return text.length;
      return segment.exact ? segment.originalStart + index - segment.copyStart : segment.originalStart;
    },
    originalEnd: (index) => {
      const segment = segmentAt(segments, index, true);
      if (segment === undefined) return 0;
      return segment.exact ? segment.originalStart + index - segment.copyStart : segment.originalEnd;
    },
  };
}

/**
 * The segment holding copy offset `index`: the one it falls in, or for an end offset the one it
 * closes. Segments that became empty (a run of invisible characters) hold no offset.
 */
function segmentAt(segments: readonly Segment[], index: number, isEnd: boolean): Segment | undefined {
  let low = 0;
  let high = segments.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const segment = segments[middle] as Segment;
    const after = isEnd ? index > segment.copyEnd : index >= segment.copyEnd;
    const before = isEnd ? index <= segment.copyStart : index < segment.copyStart;
    if (after) low = middle + 1;
    else if (before) high = middle - 1;
    else return segment;
  }
  return undefined;
}
