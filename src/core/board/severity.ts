import type { ConcernSeverity } from "./board-types.ts";

export const SEVERITY_RANK: Readonly<Record<ConcernSeverity, number>> = {
  info: 0,
  low: 1,
  medium: 2,
  high: 3,
  critical: 4,
};

export function isSeverity(value: string | undefined): value is ConcernSeverity {
  return value !== undefined && Object.hasOwn(SEVERITY_RANK, value);
}

export function mostSevere(severities: Iterable<ConcernSeverity>): ConcernSeverity | undefined {
  let worst: ConcernSeverity | undefined;
  for (const severity of severities) {
    if (worst === undefined || SEVERITY_RANK[severity] > SEVERITY_RANK[worst]) worst = severity;
  }
  return worst;
}
