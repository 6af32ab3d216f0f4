/**
 * Latency samples live in a preallocated Float64Array so recording a call allocates nothing and
 * the measurement loop's garbage is the workload's own.
 */
export class LatencySamples {
  readonly #micros: Float64Array;
  #count = 0;

  constructor(capacity: number) {
    this.#micros = new Float64Array(capacity);
  }

  get count(): number {
    return this.#count;
  }

  /** Records one call that started at `startMs` (a performance.now() reading) and ended now. */
  recordSince(startMs: number): void {
    this.recordAt(this.#count, (performance.now() - startMs) * 1000);
  }

  /** Records at a fixed slot, for concurrent workers that finish out of order. */
  recordAt(index: number, micros: number): void {
    if (index >= this.#micros.length)
      throw new RangeError(`sample ${index} exceeds capacity ${this.#micros.length}`);
    this.#micros[index] = micros;
    if (index >= this.#count) this.#count = index + 1;
  }

  summary(): LatencySummary {
    return summarize(this.#micros.subarray(0, this.#count));
  }
}

export interface LatencySummary {
  samples: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
}

/** Nearest-rank percentiles over a sorted copy; the samples themselves are left in call order. */
export function summarize(micros: Float64Array): LatencySummary {
  const sorted = Float64Array.from(micros).sort();
  let total = 0;
  for (const value of sorted) total += value;
  return {
    samples: sorted.length,
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
    meanUs: sorted.length === 0 ? Number.NaN : total / sorted.length,
  };
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

/** Operations per second of a loop that ran `count` times between two process.hrtime.bigint() readings. */
export function perSecond(count: number, startNs: bigint, endNs: bigint): number {
  return count / (Number(endNs - startNs) / 1e9);
}
