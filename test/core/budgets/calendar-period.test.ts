import { describe, expect, it } from "vitest";
import { calendarPeriod } from "../../../src/core/budgets/calendar-period.ts";
import { parseConfig } from "../../../src/core/config.ts";
import { ConfigError } from "../../../src/core/errors.ts";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe("calendar periods", () => {
  it("cut days at local midnight", () => {
    const paris = calendarPeriod(at("2026-12-04T23:30:00Z"), "day", "Europe/Paris");
    expect(paris.key).toBe("2026-12-05");
    expect(iso(paris.startsAtMs)).toBe("2026-12-04T23:00:00.000Z");
    expect(iso(paris.endsAtMs)).toBe("2026-12-05T23:00:00.000Z");
    expect(calendarPeriod(at("2026-12-04T23:30:00Z"), "day", "UTC").key).toBe("2026-12-04");
  });

  it("keep a day whole across a daylight-saving change (23 and 25 hour days)", () => {
    const spring = calendarPeriod(at("2026-03-08T12:00:00Z"), "day", "America/New_York");
    expect(iso(spring.startsAtMs)).toBe("2026-03-08T05:00:00.000Z");
    expect(iso(spring.endsAtMs)).toBe("2026-03-09T04:00:00.000Z");
    const autumn = calendarPeriod(at("2026-10-25T12:00:00Z"), "day", "Europe/Paris");
    expect(((autumn.endsAtMs ?? 0) - (autumn.startsAtMs ?? 0)) / 3_600_000).toBe(25);
  });

  it("use ISO weeks that start on Monday, numbered by the week's Thursday", () => {
    // Thursday 31 Dec 2026 and Friday 1 Jan 2027 are in 2026's week 53.
    expect(calendarPeriod(at("2026-12-31T12:00:00Z"), "week", "UTC").key).toBe("2026-W53");
    expect(calendarPeriod(at("2027-01-01T12:00:00Z"), "week", "UTC").key).toBe("2026-W53");
    expect(calendarPeriod(at("2027-01-04T00:00:00Z"), "week", "UTC").key).toBe("2027-W01");
    const week = calendarPeriod(at("2026-12-06T23:30:00Z"), "week", "Europe/Berlin");
    expect(week.key).toBe("2026-W50"); // already Monday 7 Dec in Berlin
    expect(iso(week.startsAtMs)).toBe("2026-12-06T23:00:00.000Z");
  });

  it("cut months on the first, rolling the year in December", () => {
    const december = calendarPeriod(at("2026-12-15T00:00:00Z"), "month", "UTC");
    expect(december.key).toBe("2026-12");
    expect(iso(december.endsAtMs)).toBe("2027-01-01T00:00:00.000Z");
    expect(calendarPeriod(at("2026-11-30T20:00:00Z"), "month", "Asia/Tokyo").key).toBe("2026-12");
  });

  it("never reset a budget without a period", () => {
    expect(calendarPeriod(at("2026-12-15T00:00:00Z"), "none", "UTC")).toEqual({
      key: "all",
      startsAtMs: undefined,
      endsAtMs: undefined,
    });
  });
});

describe("budgets in the config", () => {
  const FILE = "/vault/usertrust.config.json";

  it("fill period, time zone and warnings by default", () => {
    const config = parseConfig('{ "budget": 1, "budgets": [{ "scope": "team-a/**", "limit": 500 }] }', FILE);
    expect(config.budgets).toEqual([
      { scope: "team-a/**", limit: 500, period: "none", timeZone: "UTC", warnAt: [0.8, 0.95] },
    ]);
  });

  it("name the file, field and line of an unknown time zone", () => {
    const text =
      '{\n  "budget": 1,\n  "budgets": [\n    { "scope": "a/**", "limit": 5, "timeZone": "Mars/Olympus" }\n  ]\n}\n';
    const error = (() => {
      try {
        parseConfig(text, FILE);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`${FILE}:4`);
    expect((error as ConfigError).field).toBe("budgets.0.timeZone");
    expect((error as ConfigError).message).toContain("IANA time zone");
  });

  it("refuse two budgets for the same scope, period and zone", () => {
    const text = JSON.stringify({
      budget: 1,
      budgets: [
        { scope: "a/**", limit: 5, period: "day" },
        { scope: "a/**", limit: 9, period: "day" },
      ],
    });
    expect(() => parseConfig(text, FILE)).toThrow(/second budget for scope "a\/\*\*"/);
  });

  it("refuse a warning threshold outside (0, 1]", () => {
    expect(() => parseConfig('{ "budget": 1, "warnAt": [80] }', FILE)).toThrow(/at most 1/);
  });
});
