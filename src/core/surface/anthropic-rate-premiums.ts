import { combineRatePercents } from "../usage.ts";

/**
 * Fast mode (`speed: "fast"`) is billed at a multiple of the model's standard rates on every
 * token, cache reads and writes included (Anthropic pricing, fast mode): 6× on Opus 4.6 and 4.7
 * ($30 / $150 per million), 2× on Opus 4.8 and the Opus 5 family. A model not listed here, or a
 * call whose model is not known, is charged the highest multiple listed, so it is never cheap.
 */
const FAST_MODE_PERCENT: ReadonlyArray<{ model: string; percent: number }> = [
  { model: "claude-opus-4-6", percent: 600 },
  { model: "claude-opus-4-7", percent: 600 },
  { model: "claude-opus-4-8", percent: 200 },
  { model: "claude-opus-5", percent: 200 },
];
const FAST_MODE_UNLISTED_PERCENT = 600;

/** US-only inference (`inference_geo: "us"`) is billed at 1.1× on every token (Anthropic data residency). */
const US_ONLY_INFERENCE_PERCENT = 110;

/**
 * The percentage of its standard rates a call is billed at, from the speed and inference geography
 * the request asks for (for the hold) or the usage reports (for the settle); 100 for neither.
 */
export function anthropicTokenRatePercent(
  model: string | undefined,
  speed: unknown,
  inferenceGeo: unknown,
): number {
  const percents: number[] = [];
  if (speed === "fast") percents.push(fastModePercent(model));
  if (inferenceGeo === "us") percents.push(US_ONLY_INFERENCE_PERCENT);
  return combineRatePercents(...percents);
}

function fastModePercent(model: string | undefined): number {
  // Model ids may carry a date or a platform prefix ("claude-opus-4-8-20260…", "anthropic.claude-…").
  const listed =
    model === undefined ? undefined : FAST_MODE_PERCENT.find((entry) => model.includes(entry.model));
  return listed?.percent ?? FAST_MODE_UNLISTED_PERCENT;
}
