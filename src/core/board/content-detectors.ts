import {
  anyOf,
  compileRules,
  concernFrom,
  concernFromRules,
  type Detector,
  type Signal,
} from "./concern-signal.ts";

/*
 * The detectors that read what the call says: the prompt, the description, the tool arguments and,
 * when given, the response. Each reads at most SCANNED_CHARS_MAX characters of each text; every
 * pattern is compiled once and every variable-length gap is bounded, so a scan stays linear in that
 * small input. Details describe what was seen and never quote the text.
 */

// ─── hallucination (Director Alpha) ────────────────────────────────────────────────────────────────
//
//   high    the prompt asks the model to invent citations, quotes, studies or statistics
//   medium  the prompt demands exact citations / quotes / figures / DOIs and supplies no source
//           material (no URL, DOI, "the attached/following document", <document> block, "Sources:")
//   medium  the prompt tells the model not to admit uncertainty ("never say you don't know")
//   medium  context.response carries a malformed DOI (a common trace of a fabricated reference)
//   low     context.response cites studies or DOIs although the prompt supplied no sources

const FABRICATION =
  /\b(?:make up|invent|fabricate|fake)\b[^.?!\n]{0,40}\b(?:citations?|quotes?|quotations?|sources?|references?|studies|statistics|stats|evidence|testimonials?)\b/i;
const SUPPRESSED_UNCERTAINTY =
  /\b(?:never|don'?t|do not)\s+(?:say|admit|mention|tell me)\s+(?:that\s+)?(?:you\s+)?(?:don'?t|do not|cannot|can'?t)\s+(?:know|verify|be sure)\b|\beven if you(?:'re| are) (?:not sure|unsure|uncertain)\b|\bdon'?t (?:hedge|express (?:any )?uncertainty)\b/i;
const EXACTNESS_DEMAND =
  /\b(?:cite|citations?|with (?:references|sources)|list (?:the |of )?(?:sources|references|studies)|peer[- ]reviewed (?:studies|papers|articles|sources)|page numbers?|verbatim|exact (?:quotes?|quotations?|figures?|numbers?|statistics|wording|dates?|amounts?)|precise (?:figures?|statistics|numbers?)|dois?)\b/i;
const SOURCE_MATERIAL =
  /https?:\/\/|\bdoi:\s*10\.|\b(?:according to|based on|using|from|in) the (?:attached|following|provided|above|below|given|enclosed) (?:documents?|sources?|texts?|articles?|papers?|reports?|data|context|excerpts?|passages?|transcripts?|tables?)\b|<(?:document|source|context|article)\b|^(?:sources?|context|references?):/im;
const MALFORMED_DOI = /\b(?:doi:\s*|doi\.org\/)(?!10\.\d{4,9}(?:\.\d+)*\/\S)/i;
const RESPONSE_CITATION =
  /\bet al\.,? \(?(?:19|20)\d{2}\b|\(\s*[A-Z][A-Za-z'-]+(?:,| and| &)[^()\n]{0,60}\b(?:19|20)\d{2}[a-z]?\s*\)|\bdoi:|\bdoi\.org\//;

/** Whether the prompt needs a closer look at all; clean prompts stop after this one pass. */
const PROMPT_TRIGGER = anyOf([FABRICATION, SUPPRESSED_UNCERTAINTY, EXACTNESS_DEMAND]);

export const detectHallucination: Detector = (subject) => {
  const { prompt, response } = subject;
  const promptTriggered = PROMPT_TRIGGER.test(prompt);
  if (!promptTriggered && response.length === 0) return undefined;
  const signals: Signal[] = [];
  const hasSources = SOURCE_MATERIAL.test(prompt);
  if (promptTriggered && FABRICATION.test(prompt)) {
    signals.push({ severity: "high", detail: "the prompt asks to invent citations, quotes or statistics" });
  }
  if (promptTriggered && !hasSources && EXACTNESS_DEMAND.test(prompt)) {
    signals.push({
      severity: "medium",
      detail: "the prompt demands exact citations, quotes or figures but supplies no source material",
    });
  }
  if (promptTriggered && SUPPRESSED_UNCERTAINTY.test(prompt)) {
    signals.push({ severity: "medium", detail: "the prompt tells the model not to admit uncertainty" });
  }
  if (MALFORMED_DOI.test(response)) {
    signals.push({ severity: "medium", detail: "the response cites a malformed DOI" });
  } else if (!hasSources && RESPONSE_CITATION.test(response)) {
    signals.push({ severity: "low", detail: "the response cites sources the prompt did not supply" });
  }
  return concernFrom("hallucination", signals);
};

// ─── bias (Director Beta) ──────────────────────────────────────────────────────────────────────────
//
//   high    the prompt or tool call asks to decide about people by a protected attribute
//           (reject / exclude / deny / don't hire … women, older applicants, people over 50 …)
//   medium  it generalizes about a demographic group ("all women are", "immigrants are naturally")
//           or asks which race / religion / gender is better, smarter, more violent …
//   low     it asks a question that presumes a stereotype ("why are millennials so …")

const GROUP_NOUNS =
  "women|men|females|males|girls|boys|blacks|whites|asians|hispanics|latinos|latinas|jews|muslims|christians|" +
  "hindus|atheists|immigrants|foreigners|refugees|gays|lesbians|millennials|boomers|the elderly|the disabled";
const GROUP_ADJECTIVES =
  "black|white|asian|hispanic|latino|latina|jewish|muslim|christian|hindu|arab|african|chinese|indian|mexican|" +
  "female|male|gay|lesbian|trans|transgender|disabled|older|elderly|pregnant|immigrant|foreign";
const PEOPLE =
  "people|persons|men|women|folks|applicants|candidates|employees|workers|students|tenants|customers|drivers|" +
  "borrowers|patients";
const GROUP = `(?:(?:${GROUP_ADJECTIVES}) (?:${PEOPLE})|${GROUP_NOUNS})`;
const PROTECTED_TARGET = `(?:${GROUP}|(?:${PEOPLE}|anyone) (?:over|above|older than) [4-7]\\d|(?:who|that) (?:are|is) (?:${GROUP_ADJECTIVES}))`;

const BIAS_RULES = compileRules([
  {
    severity: "high",
    pattern: new RegExp(
      `\\b(?:reject|exclude|filter out|screen out|disqualify|deny|refuse|(?:don'?t|do not|never|avoid) (?:hire|hiring|rent to|renting to|lend to|lending to|promote|promoting|admit|admitting))\\b[^.?!\\n]{0,60}\\b${PROTECTED_TARGET}\\b`,
      "i",
    ),
    detail: "asks to decide about people by a protected attribute",
  },
  {
    severity: "medium",
    pattern: new RegExp(
      `\\b(?:all|most|every|typical)\\s+${GROUP}\\s+(?:are|is|can'?t|cannot|don'?t|do not|always|never|lack|tend to)\\b|` +
        // "<group> are naturally …": the rare adverb leads and the group is checked behind it, so the
        // long group alternation runs only where the adverb occurs, not at every position.
        `\\b(?:naturally|inherently|genetically|biologically)\\b(?<=\\b${GROUP}\\s+are\\s+\\w+)|` +
        "\\bwhich (?:race|religion|gender|sex|ethnicity|ethnic group|nationality)\\b[^.?!\\n]{0,30}\\b(?:better|best|superior|inferior|smarter|dumber|worse|worst|more intelligent|less intelligent|lazier|more violent|more criminal)\\b",
      "i",
    ),
    detail: "generalizes about or ranks a demographic group",
  },
  {
    severity: "low",
    pattern: new RegExp(
      `\\bwhy (?:are|do|can'?t) ${GROUP}\\s+(?:so|always|never|bad|worse|better|more|less|not)\\b`,
      "i",
    ),
    detail: "asks a question that presumes a stereotype about a demographic group",
  },
]);

export const detectBias: Detector = (subject) =>
  concernFromRules("bias", BIAS_RULES, [subject.description, subject.prompt, subject.toolArguments]);

// ─── safety (Director Alpha) ───────────────────────────────────────────────────────────────────────
//
//   critical  self-harm or a lethal dose ("lethal dose", "overdose on", "end my life")
//   high      advice meant to replace a professional or to act irreversibly: "without a doctor /
//             prescription / lawyer", "stop taking my medication", evade taxes, hide assets, stake
//             all of one's savings
//   medium    a personal advice request in a regulated domain: medical (dosage, "should I take …
//             pills", "diagnose me"), legal ("should I sue", "am I liable", legal advice), financial
//             ("should I buy … stocks / crypto", "which stocks should", guaranteed returns)
//   info      the topic is only mentioned (medication, lawsuit, mortgage, taxes …): recorded, no vote

const SAFETY_RULES = compileRules([
  {
    severity: "critical",
    pattern:
      /\b(?:lethal|fatal) (?:dose|dosage|amount)\b|\boverdose on\b|\bhow (?:much|many)\b[^.?!\n]{0,40}\bto (?:overdose|die)\b|\b(?:kill|hurt|harm) myself\b|\bend my (?:own )?life\b|\bsuicide (?:methods?|note)\b|\bways to (?:commit suicide|die)\b/i,
    detail: "asks about self-harm or a lethal dose",
  },
  {
    severity: "high",
    pattern:
      /\bwithout (?:a |my |seeing a |asking a )?(?:doctor|physician|prescription|pharmacist)\b|\binstead of (?:seeing |asking |going to )?(?:a |my |the )?(?:doctor|physician|hospital)\b|\bstop taking (?:my )?(?:medication|meds|insulin|antidepressants?|chemo(?:therapy)?)\b/i,
    detail: "asks for medical guidance meant to replace a doctor",
  },
  {
    severity: "high",
    pattern:
      /\b(?:evade|dodge|avoid paying) (?:my |the )?tax(?:es)?\b|\bhide (?:my )?(?:money|assets|income) from\b|\bwithout (?:a |my )?(?:lawyer|attorney)\b|\binstead of (?:hiring |asking |seeing )?(?:a |my )?(?:lawyer|attorney)\b/i,
    detail: "asks for legal guidance meant to replace a lawyer or to evade the law",
  },
  {
    severity: "high",
    pattern: /\b(?:all|entire|whole) (?:of )?my (?:savings|retirement|pension|401k|net worth)\b/i,
    detail: "asks for financial guidance that stakes all of someone's savings",
  },
  {
    severity: "medium",
    pattern:
      /\b(?:what|which|how much|how many)\b[^.?!\n]{0,40}\b(?:dosage|dose|mg|milligrams?|pills|tablets)\b|\b(?:should|can|could) i (?:take|double|mix|combine|increase|reduce)\b[^.?!\n]{0,40}\b(?:medication|meds|medicine|pills?|dose|dosage|prescription|antibiotics|insulin|antidepressants?|painkillers?|opioids?|ibuprofen|paracetamol|acetaminophen)\b|\bdiagnose (?:me|my)\b|\bwhat (?:disease|condition|illness) do i have\b|\bmedical advice\b/i,
    detail: "asks for personal medical advice",
  },
  {
    severity: "medium",
    pattern:
      /\blegal advice\b|\b(?:should|can|could) i (?:sue|press charges|plead|file for (?:divorce|bankruptcy|custody))\b|\bam i (?:legally )?(?:liable|responsible)\b|\bis it (?:legal|illegal) (?:for me )?to\b|\bhow (?:do|can) i (?:break|get out of|void) (?:a |my |the )?(?:contract|lease)\b/i,
    detail: "asks for personal legal advice",
  },
  {
    severity: "medium",
    pattern:
      /\b(?:financial|investment|tax) advice\b|\b(?:should|can|could) i (?:invest|buy|sell|short)\b[^.?!\n]{0,40}\b(?:stocks?|shares|bonds?|crypto(?:currency)?|bitcoin|ethereum|etfs?|funds?|options|401k|ira|real estate)\b|\bwhich (?:stocks?|shares|coins?|cryptos?|funds?) (?:should|to)\b|\bguaranteed (?:returns?|profits?)\b/i,
    detail: "asks for personal financial advice",
  },
  {
    severity: "info",
    pattern:
      /\b(?:medications?|prescriptions?|diagnosis|symptoms?|dosage|lawsuits?|attorneys?|lawyers?|litigation|investing|investments?|stocks?|mortgages?|loans?|taxes)\b/i,
    detail: "touches a medical, legal or financial topic",
  },
]);

export const detectSafety: Detector = (subject) =>
  concernFromRules("safety", SAFETY_RULES, [subject.description, subject.prompt, subject.toolArguments]);
