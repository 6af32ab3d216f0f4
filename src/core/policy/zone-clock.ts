const WEEKDAYS: Readonly<Record<string, number>> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const MINUTE_MS = 60_000;

/**
 * The wall clock of one time zone, read through Intl so daylight-saving changes come from the
 * time zone database, never from fixed offsets. Every zone offset in use is a whole number of
 * minutes, so the hour and weekday are constant within a UTC minute: the last minute is cached and
 * the formatter (about a microsecond) runs at most once a minute per zone.
 */
export class ZoneClock {
  readonly #format: Intl.DateTimeFormat;
  #cachedMinute = Number.NaN;
  #cachedDayHour = 0;

  /** `timeZone` undefined: the process's local zone. */
  constructor(timeZone: string | undefined) {
    const options: Intl.DateTimeFormatOptions = { hourCycle: "h23", hour: "numeric", weekday: "short" };
    if (timeZone !== undefined) options.timeZone = timeZone;
    this.#format = new Intl.DateTimeFormat("en-US", options);
  }

  /** `day * 24 + hour` on this zone's wall clock: day 0 = Sunday, hour 0–23. */
  dayHourAt(epochMs: number): number {
    const minute = Math.floor(epochMs / MINUTE_MS);
    if (minute !== this.#cachedMinute) {
      let day = 0;
      let hour = 0;
      for (const part of this.#format.formatToParts(epochMs)) {
        if (part.type === "weekday") day = WEEKDAYS[part.value] ?? 0;
        else if (part.type === "hour") hour = Number(part.value) % 24;
      }
      this.#cachedMinute = minute;
      this.#cachedDayHour = day * 24 + hour;
    }
    return this.#cachedDayHour;
  }
}

const clocks = new Map<string, ZoneClock>();

/** One shared clock per zone, so rules in the same zone share the cached minute. */
export function zoneClock(timeZone: string | undefined): ZoneClock {
  const key = timeZone ?? "";
  let clock = clocks.get(key);
  if (clock === undefined) {
    clock = new ZoneClock(timeZone);
    clocks.set(key, clock);
  }
  return clock;
}
