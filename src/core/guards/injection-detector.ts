import { Buffer } from "node:buffer";
import { memoByContent } from "./content-memo.ts";
import { normalizedCopyOf } from "./normalized-copy.ts";
import { eachRecord } from "./text-scan.ts";

/**
 * Heuristics for prompt-injection attempts in prompt text (typically user input, retrieved documents
 * and tool results). They look for what makes an instruction an attack rather than the words alone:
 * "ignore the previous email" is ordinary, "ignore all previous instructions" is not, so every
 * pattern pairs a verb with an object that names the model's own instructions, role or prompt.
 * Findings carry a kind and a span, never an excerpt, so they can go to the audit log as they are.
 *
 * Kinds:
 * - `instruction_override`: ignore / disregard / forget the previous or system instructions;
 * - `role_hijack`: "you are now DAN", "act as an unrestricted AI", fake chat-template role markers
 *   (`<|im_start|>system`, `[INST]`, `<<SYS>>`, a `### system:` line);
 * - `system_prompt_extraction`: repeat / reveal / print your system prompt or initial instructions;
 * - `encoded_payload`: a base64 or hex blob that decodes to text containing any of the above.
 */
export type InjectionKind =
  | "instruction_override"
  | "role_hijack"
  | "system_prompt_extraction"
  | "encoded_payload";

export interface InjectionFinding {
  kind: InjectionKind;
  /** UTF-16 offsets in the scanned text, `end` exclusive. */
  start: number;
  end: number;
}

interface Rule {
  kind: Exclude<InjectionKind, "encoded_payload">;
  /**
   * Words that must come before the distinctive word of a phrase are checked by a lookbehind after
   * it; a group named `lead` then marks where the finding starts (needs the `d` flag). No `g` flag.
   */
  pattern: RegExp;
  /** Extra judgement a regex expresses badly. */
  accept?: (match: RegExpExecArray, text: string) => boolean;
}

/** Words that make "ignore … instructions" point at the model's instructions, not some document's. */
const POINTS_AT_MODEL_INSTRUCTIONS =
  /\b(?:all|any|every|previous|prior|above|earlier|preceding|foregoing|original|initial|system|developer|your|former)\b/i;

/**
 * "Reveal your system prompt", "print your initial instructions", "repeat the prompt above". The
 * object must be the model's own prompt: a system message, qualified instructions (not "your
 * instructions" for a recipe), or any prompt of "yours". "Show the system prompt" is ordinary talk
 * among developers, so "the" needs a verb that only an extraction uses, or "… above" / "… you were
 * given" after the noun.
 */
const OWN_PROMPT_QUALIFIER = /\b(?:system|initial|original|hidden|secret|internal|developer)\b|pre-/i;
const EXTRACTION_VERB = /^(?:repeat|reveal|recite|leak|dump|disclose|spell\s+out)$/i;

function namesOwnPrompt(match: RegExpExecArray): boolean {
  const { noun = "", determiner = "", qualifiers = "", lead = "", after } = match.groups ?? {};
  const yours = determiner.toLowerCase() === "your";
  const aboveOrGiven = after !== undefined;
  const isModelPrompt =
    noun.toLowerCase() === "message"
      ? /\bsystem\b/i.test(qualifiers)
      : OWN_PROMPT_QUALIFIER.test(qualifiers) || aboveOrGiven || (yours && noun.toLowerCase() === "prompt");
  return isModelPrompt && (yours || aboveOrGiven || EXTRACTION_VERB.test(lead));
}

/**
 * "Disable your filters", "bypass the safety guidelines", "override the system instructions". A
 * device or a network has system restrictions and system policies too ("disable the system
 * restrictions on USB drives"), so "system" points at the model only with a noun that only a model
 * has.
 */
function pointsAtModelSafeguards(match: RegExpExecArray): boolean {
  const { qualifier = "", noun = "" } = match.groups ?? {};
  if (/\b(?:your|safety|ethical)\b/i.test(qualifier) || /^system\s/i.test(noun)) return true;
  return /\bsystem\b/i.test(qualifier) && /^(?:instructions|guidelines|guardrails|programming)$/i.test(noun);
}

/** "DAN" (Do Anything Now) is the jailbreak only in capitals: "Dan" is a name, also a persona's. */
function isCapitalDan(match: RegExpExecArray): boolean {
  const { dan } = match.groups ?? {};
  return dan === undefined || dan === "DAN";
}

/** A chat-template heading counts only at the start of a line. */
function startsLine(match: RegExpExecArray, text: string): boolean {
  let index = match.index;
  while (index > 0 && (text[index - 1] === " " || text[index - 1] === "\t")) index--;
  return index === 0 || text[index - 1] === "\n";
}

const RULES: readonly Rule[] = [
  {
    kind: "instruction_override",
    pattern:
      /\b(?:ignore|disregard|forget|do\s+not\s+follow|don't\s+follow|stop\s+following)\s+(?<qualifier>(?:(?:all|any|every|each|of|the|these|those|such|previous|prior|above|earlier|preceding|foregoing|original|initial|system|developer|your|existing|current|former|other|safety|and|that|you\s+were\s+given)\s+){1,6})(?:instructions?|prompts?|rules|directives?|guidelines|guardrails|constraints|restrictions|programming|polic(?:y|ies)|safeguards)\b/i,
    accept: (match) => POINTS_AT_MODEL_INSTRUCTIONS.test(match.groups?.qualifier ?? ""),
  },
  {
    kind: "instruction_override",
    pattern:
      /\b(?:override|bypass|circumvent|disable|turn\s+off)\s+(?<qualifier>(?:(?:all|any|of|the|your|system|safety|content|security|previous|prior|existing|ethical)\s+){1,5})(?<noun>instructions|guidelines|guardrails|safeguards|filters|restrictions|system\s+prompt|programming|polic(?:y|ies))\b/i,
    accept: pointsAtModelSafeguards,
  },
  {
    kind: "instruction_override",
    pattern:
      /\bforget\s+(?:about\s+)?(?:everything|all(?:\s+of)?\s+(?:that|the\s+above))\s+(?:above|before\s+this|you\s+(?:were|have\s+been)\s+(?:told|given))/i,
  },
  {
    kind: "instruction_override",
    pattern:
      /\byour\s+(?:new|real|true|actual|updated)\s+(?:instructions|rules|directives|system\s+prompt)\s+(?:are|is)\b/i,
  },
  {
    kind: "role_hijack",
    pattern:
      /\byou\s+are\s+now\s+(?:(?:a|an|the|in|my)\s+)?(?:(?<dan>DAN)\b|(?:jail-?broken|unrestricted|unfiltered|uncensored|unlocked|evil|rogue)\b|developer\s+mode\b|no\s+longer\s+(?:bound|restricted|an?\s+(?:AI|assistant|language\s+model))\b)/i,
    accept: isCapitalDan,
  },
  {
    kind: "role_hijack",
    pattern: /\b(?:(?<dan>DAN)|jailbreak)\s+mode\b/i,
    accept: isCapitalDan,
  },
  {
    kind: "role_hijack",
    pattern:
      /\bdeveloper\s+mode\b(?<=(?<lead>\b(?:you|ChatGPT|Claude|Gemini))\s+(?:are\s+|is\s+)?(?:now\s+)?(?:in|with)\s+developer\s+mode)/di,
  },
  {
    kind: "role_hijack",
    pattern:
      /\b(?:act|behave|respond|answer|roleplay)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:(?<dan>DAN)\b|an?\s+(?:unrestricted|unfiltered|uncensored|jail-?broken|evil|amoral)\s+(?:AI|model|assistant|chatbot|version\s+of\s+yourself)\b)/i,
    accept: isCapitalDan,
  },
  {
    kind: "role_hijack",
    pattern:
      /\b(?:pretend|imagine|act\s+as\s+if)\s+(?:that\s+)?you\s+(?:have|had|are\s+under)\s+no\s+(?:restrictions|rules|limits|limitations|guidelines|filters|(?:content\s+)?polic(?:y|ies)|(?:ethical|safety)\s+guidelines)\b/i,
  },
  {
    kind: "role_hijack",
    pattern:
      /\b(?:pretend\s+(?:to\s+be|you\s+are)|act(?:ing)?\s+as|speak(?:ing)?\s+as|respond(?:ing)?\s+as|you\s+are\s+now)\s+(?:the\s+)?system(?:\s+(?:prompt|message|itself))?(?=\s*(?:[.,;:!?"')\]]|$)|\s+(?:and|now|from|with|instead)\b)/i,
  },
  {
    kind: "role_hijack",
    pattern:
      /<\|(?:im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id|end_header_id)\|>|\[\/?INST\]|<<\/?SYS>>/i,
  },
  {
    kind: "role_hijack",
    pattern:
      /#{1,6}[ \t]*(?:system|assistant)(?:[ \t]+(?:prompt|message|instructions?|override|update))?[ \t]*:/i,
    accept: startsLine,
  },
  {
    kind: "system_prompt_extraction",
    pattern:
      /\b(?<noun>prompt|instructions?|message)\b(?<=(?<lead>\b(?:repeat|reveal|print|show|display|output|tell\s+me|give\s+me|share|disclose|leak|dump|recite|write\s+out|spell\s+out|what\s+(?:is|are|was|were)))\s+(?:me\s+)?(?:back\s+)?(?:(?:all|exactly|verbatim|word\s+for\s+word|of)\s+){0,4}(?<determiner>your|the)\s+(?<qualifiers>(?:(?:full|entire|complete|exact|original|initial|hidden|secret|internal|previous|current|first|system|developer)\s+|pre-){0,4})(?:prompt|instructions?|message))(?<after>\s+(?:above|you\s+were\s+given|you've\s+been\s+given|you\s+have\s+been\s+given))?/di,
    accept: namesOwnPrompt,
  },
  {
    kind: "system_prompt_extraction",
    pattern:
      /\b(?:repeat|recite|reveal|output|print)\s+(?:everything|all\s+(?:of\s+)?the\s+(?:text|words)|the\s+(?:text|words))\s+(?:above|before\s+this|preceding\s+this|that\s+came\s+before)\b/i,
  },
  {
    kind: "system_prompt_extraction",
    pattern:
      /\b(?:what\s+(?:is|was)\s+written|repeat\s+(?:the\s+)?(?:text|words))\s+(?:at|in)\s+the\s+(?:beginning|start|top)\s+of\s+(?:this|the|your)\s+(?:conversation|prompt|context|chat)\b/i,
  },
];

/** Where the finding for `match` starts, or -1 when the rule does not hold there. */
function findingStart(rule: Rule, match: RegExpExecArray, text: string): number {
  if (rule.accept !== undefined && !rule.accept(match, text)) return -1;
  return match.indices?.groups?.lead?.[0] ?? match.index;
}

/**
 * One pass of the union of all rules finds every position where some rule matches (rare in ordinary
 * text); each rule then runs anchored at those positions only. A pass per rule would cost about
 * twice as much. The scan resumes one character after each hit so overlapping phrases are kept.
 */
const ANY_RULE = new RegExp(
  RULES.map((rule) => `(?:${rule.pattern.source.replace(/\(\?<\w+>/g, "(?:")})`).join("|"),
  "gi",
);
const ANCHORED_RULES = RULES.map((rule) => ({
  rule,
  pattern: new RegExp(rule.pattern.source, `${rule.pattern.flags}y`),
}));

function findPlain(text: string, found: InjectionFinding[]): void {
  ANY_RULE.lastIndex = 0;
  for (let hit = ANY_RULE.exec(text); hit !== null; hit = ANY_RULE.exec(text)) {
    for (const { rule, pattern } of ANCHORED_RULES) {
      pattern.lastIndex = hit.index;
      const match = pattern.exec(text);
      const start = match === null ? -1 : findingStart(rule, match, text);
      if (match !== null && start !== -1)
        found.push({ kind: rule.kind, start, end: match.index + match[0].length });
    }
    ANY_RULE.lastIndex = hit.index + 1;
  }
}

// ── encoded payloads ─────────────────────────────────────────────────────────────────────────────

/**
 * Where an encoded blob may be. Base64 of text switches between lower and upper case every few
 * characters; hex of ASCII text has a digit 2–7 in every other place. Ordinary words rarely do
 * either, so a scan for these spots is much cheaper than a scan for long base64-alphabet runs.
 */
const ENCODED_HINT = /[a-z0-9+/][A-Z]|[2-7][0-9A-Fa-f][2-7][0-9A-Fa-f][2-7]/g;
/** Escaped bytes: `\x69\x67\x6e…`. */
const ESCAPED_HEX = /(?:\\x[0-9A-Fa-f]{2}){12,}/g;
const HEX = /^(?:0x)?([0-9A-Fa-f]+)$/;

/** Limits on decoding work per text, so a megabyte of base64 costs a bounded amount. */
const ENCODED_RUNS_MAX = 64;
const ENCODED_RUN_CHARS_MIN = 24;
const ENCODED_CHARS_PER_RUN_MAX = 16_384;
const ENCODED_CHARS_TOTAL_MAX = 65_536;
const DECODED_TEXT_CHARS_MIN = 12;

/** The base64 alphabets, standard and URL-safe (padding is handled apart). */
function isBase64Code(code: number): boolean {
  return (
    (code >= 48 && code <= 57) ||
    (code >= 65 && code <= 90) ||
    (code >= 97 && code <= 122) ||
    code === 43 ||
    code === 47 ||
    code === 45 ||
    code === 95
  );
}

/**
 * The texts a run may encode: hex, or base64 read from each of the first four offsets, since a
 * word glued to the front (`b64-…`, `payload_…`) shifts the 4-character groups. Node decodes a
 * ragged, unpadded tail as far as it goes.
 */
function decodings(run: string): string[] {
  const hex = HEX.exec(run)?.[1];
  if (hex !== undefined) return [Buffer.from(hex.slice(0, hex.length & ~1), "hex").toString("utf8")];
  if (!/[A-Z]/.test(run) || !/[a-z]/.test(run)) return [];
  const body = run.replace(/=+$/, "");
  const texts: string[] = [];
  for (let offset = 0; offset < 4 && body.length - offset >= ENCODED_RUN_CHARS_MIN; offset++) {
    texts.push(Buffer.from(body.slice(offset), "base64").toString("utf8"));
  }
  return texts;
}

/**
 * Whether decoded bytes hold text: a stretch of printable characters as long as a short sentence.
 * Random bytes almost never do; a few bytes of noise from a word glued to the front of the blob do
 * not hide the text after them.
 */
function containsText(decoded: string): boolean {
  let stretch = 0;
  for (let i = 0; i < decoded.length; i++) {
    const code = decoded.charCodeAt(i);
    const printable =
      (code >= 32 && code < 127) ||
      code === 9 ||
      code === 10 ||
      code === 13 ||
      (code >= 160 && code !== 0xfffd);
    stretch = printable ? stretch + 1 : 0;
    if (stretch >= DECODED_TEXT_CHARS_MIN) return true;
  }
  return false;
}

function decodesToInjection(encoded: string): boolean {
  const texts = encoded.startsWith("\\x")
    ? [Buffer.from(encoded.replaceAll("\\x", ""), "hex").toString("utf8")]
    : decodings(encoded);
  for (const decoded of texts) {
    if (!containsText(decoded)) continue;
    const inner: InjectionFinding[] = [];
    findPlain(normalizedCopyOf(decoded)?.text ?? decoded, inner);
    if (inner.length > 0) return true;
  }
  return false;
}

/** Base64 and hex runs found around each hint, and escaped hex; each decoded at most once. */
function findEncoded(text: string, found: InjectionFinding[]): void {
  let runs = 0;
  let budget = ENCODED_CHARS_TOTAL_MAX;
  const consider = (start: number, end: number): void => {
    if (runs >= ENCODED_RUNS_MAX || budget <= 0) return;
    runs++;
    const take = Math.min(end - start, ENCODED_CHARS_PER_RUN_MAX, budget);
    budget -= take;
    if (decodesToInjection(text.slice(start, start + take)))
      found.push({ kind: "encoded_payload", start, end });
  };
  ENCODED_HINT.lastIndex = 0;
  for (let hint = ENCODED_HINT.exec(text); hint !== null; hint = ENCODED_HINT.exec(text)) {
    let start = hint.index;
    while (start > 0 && isBase64Code(text.charCodeAt(start - 1))) start--;
    let end = hint.index + hint[0].length;
    while (end < text.length && isBase64Code(text.charCodeAt(end))) end++;
    if (text[end] === "=") end += text[end + 1] === "=" ? 2 : 1;
    if (end - start >= ENCODED_RUN_CHARS_MIN) consider(start, end);
    ENCODED_HINT.lastIndex = end;
  }
  ESCAPED_HEX.lastIndex = 0;
  for (let match = ESCAPED_HEX.exec(text); match !== null; match = ESCAPED_HEX.exec(text)) {
    consider(match.index, match.index + match[0].length);
  }
}

/**
 * Injection findings in `text`, sorted by start; overlapping matches of one kind are reported once.
 * The rules read the text's normalised copy (see normalized-copy.ts), so invisible characters and
 * full-width letters do not hide a phrase; offsets are the original text's. Each record of a text
 * (the values of one piece of tool data, see RECORD_SEPARATOR) is read on its own.
 */
export const findInjection: (text: string) => InjectionFinding[] = memoByContent(
  eachRecord((text) => {
    const found: InjectionFinding[] = [];
    const copy = normalizedCopyOf(text);
    const scanned = copy?.text ?? text;
    findPlain(scanned, found);
    findEncoded(scanned, found);
    if (copy !== undefined) {
      for (const finding of found) {
        finding.start = copy.originalStart(finding.start);
        finding.end = copy.originalEnd(finding.end);
      }
    }
    found.sort((a, b) => a.start - b.start || b.end - a.end);
    const lastEndByKind = new Map<InjectionKind, number>();
    return found.filter((finding) => {
      const lastEnd = lastEndByKind.get(finding.kind) ?? -1;
      if (finding.start < lastEnd) return false;
      lastEndByKind.set(finding.kind, finding.end);
      return true;
    });
  }),
);
