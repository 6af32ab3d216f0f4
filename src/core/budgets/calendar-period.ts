/** How often a scoped budget starts again from zero; "none" never resets. */
export type BudgetPeriod = "day" | "week" | "month" | "none";

/** One period of a budget: its stable key, and when it began and ends (epoch ms, in its time zone). */
export interface CalendarPeriod {
  /** "2026-12-04" (day), "2026-W49" (ISO week, from Monday), "2026-12" (month), "all" (none). */
  key: string;
  startsAtMs: number | undefined;
  endsAtMs: number | undefined;
}

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when the runtime knows the IANA time zone (e.g. "Europe/Paris", "UTC"). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The runtime's canonical spelling of a known zone ("utc" → "UTC", "europe/paris" → "Europe/Paris"). */
export function canonicalTimeZone(timeZone: string): string {
  return formatterFor(timeZone).resolvedOptions().timeZone;
}

/** The wall-clock fields of an instant in a time zone. */
function wallClock(instantMs: number, timeZone: string): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(instantMs)) {
    if (part.type !== "literal") fields[part.type] = Number(part.value);
  }
  return fields;
}

/** How far the zone's wall clock is ahead of UTC at an instant (ms; negative west of Greenwich). */
function offsetMs(instantMs: number, timeZone: string): number {
  const f = wallClock(instantMs, timeZone);
  const asUtc = Date.UTC(
    f.year ?? 1970,
    (f.month ?? 1) - 1,
    f.day ?? 1,
    f.hour ?? 0,
    f.minute ?? 0,
    f.second ?? 0,
  );
  return asUtc - Math.floor(instantMs / 1000) * 1000;
}

/** The instant a local calendar date begins in the zone (its midnight, or the first minute after a DST gap). */
function startOfLocalDate(date: LocalDate, timeZone: string): number {
  const midnightAsUtc = Date.UTC(date.year, date.month - 1, date.day);
  // Two rounds settle the offset even when the date is a DST change day.
  const guess = midnightAsUtc - offsetMs(midnightAsUtc, timeZone);
  const start = midnightAsUtc - offsetMs(guess, timeZone);
  // Where clocks jump forward at midnight (Santiago, Havana, Beirut…), 00:00 does not exist and
  // the guess lands in the day before: the day begins where the jump ends.
  const landed = localDate(start, timeZone);
  if (landed.day === date.day && landed.month === date.month) return start;
  return start + (offsetMs(start + 6 * 3_600_000, timeZone) - offsetMs(start, timeZone));
}

function localDate(instantMs: number, timeZone: string): LocalDate {
  const f = wallClock(instantMs, timeZone);
  return { year: f.year ?? 1970, month: f.month ?? 1, day: f.day ?? 1 };
}

/** Calendar arithmetic on a local date, through a UTC Date (no zone involved). */
function addDays(date: LocalDate, days: number): LocalDate {
  const shifted = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate() };
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}

/** ISO 8601 week: weeks start on Monday; week 1 holds the year's first Thursday. */
function isoWeek(date: LocalDate): { monday: LocalDate; key: string } {
  const weekday = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay() || 7;
  const monday = addDays(date, 1 - weekday);
  const thursday = addDays(date, 4 - weekday);
  const yearStart = Date.UTC(thursday.year, 0, 1);
  const week =
    Math.floor((Date.UTC(thursday.year, thursday.month - 1, thursday.day) - yearStart) / 86_400_000 / 7) + 1;
  return { monday, key: `${thursday.year}-W${pad(week)}` };
}

/** The period of `period` that contains `nowMs`, with calendar boundaries in `timeZone`. */
export function calendarPeriod(nowMs: number, period: BudgetPeriod, timeZone: string): CalendarPeriod {
  if (period === "none") return { key: "all", startsAtMs: undefined, endsAtMs: undefined };
  const today = localDate(nowMs, timeZone);
  if (period === "day") {
    return {
      key: `${today.year}-${pad(today.month)}-${pad(today.day)}`,
      startsAtMs: startOfLocalDate(today, timeZone),
      endsAtMs: startOfLocalDate(addDays(today, 1), timeZone),
    };
  }
  if (period === "week") {
    const { monday, key } = isoWeek(today);
    return {
      key,
      startsAtMs: startOfLocalDate(monday, timeZone),
      endsAtMs: startOfLocalDate(addDays(monday, 7), timeZone),
    };
  }
  const first: LocalDate = { year: today.year, month: today.month, day: 1 };
  const next: LocalDate =
    today.month === 12
      ? { year: today.year + 1, month: 1, day: 1 }
      : { year: today.year, month: today.month + 1, day: 1 };
  return {
    key: `${today.year}-${pad(today.month)}`,
    startsAtMs: startOfLocalDate(first, timeZone),
    endsAtMs: startOfLocalDate(next, timeZone),
  };
}
