// What a person is told about a schedule that cannot be kept: unknown zones, empty, malformed,
// overlapping or too many windows. Each message names the window and what to do instead.
import { describe, expect, it } from "vitest";
import { describeSchedule, describeWindow, MAX_WINDOWS, scheduleSchema } from "../src/index.ts";

const messages = (input: unknown) => {
  const r = scheduleSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};
const office = { days: ["mon", "tue", "wed", "thu", "fri"], start: "08:30", end: "18:00" };

describe("scheduleSchema", () => {
  it("accepts an office schedule and canonicalises the zone's spelling", () => {
    const r = scheduleSchema.parse({ timeZone: "europe/berlin", windows: [office] });
    expect(r.timeZone).toBe("Europe/Berlin");
    expect(describeSchedule(r)).toBe("Mon–Fri 08:30–18:00 Europe/Berlin");
  });

  it("refuses zones that are not IANA names", () => {
    expect(messages({ timeZone: "Mars/Olympus_Mons", windows: [office] })).toEqual(['timeZone: Unknown time zone "Mars/Olympus_Mons": use an IANA name such as Europe/Berlin or America/New_York']);
    expect(messages({ timeZone: "+02:00", windows: [office] })[0]).toMatch(/^timeZone: Unknown time zone/);
    expect(messages({ timeZone: "", windows: [office] })[0]).toMatch(/^timeZone: timeZone is required/);
  });

  it("refuses an empty list, too many windows, and a window with no time in it", () => {
    expect(messages({ timeZone: "UTC", windows: [] })).toEqual(["windows: A schedule needs at least one window (to remove the schedule, send null)"]);
    const many = Array.from({ length: MAX_WINDOWS + 1 }, (_, i) => ({ days: ["mon"], start: `${String(i).padStart(2, "0")}:00`, end: `${String(i).padStart(2, "0")}:30` }));
    expect(messages({ timeZone: "UTC", windows: many })).toEqual([`windows: A schedule has at most ${MAX_WINDOWS} windows`]);
    expect(messages({ timeZone: "UTC", windows: [{ days: ["mon"], start: "08:00", end: "08:00" }] })).toEqual(["windows.0.end: The window is empty: it starts and ends at 08:00 (for a whole day write 00:00–24:00)"]);
    expect(messages({ timeZone: "UTC", windows: [{ days: ["mon"], start: "00:00", end: "00:00" }] })).toHaveLength(1);
    expect(messages({ timeZone: "UTC", windows: [{ days: [], start: "08:00", end: "09:00" }] })).toEqual(["windows.0.days: Pick at least one day"]);
  });

  it("refuses malformed times and days, and a day listed twice", () => {
    expect(messages({ timeZone: "UTC", windows: [{ days: ["mon"], start: "8:00", end: "25:00" }] })).toEqual([
      "windows.0.start: start must be a time HH:MM between 00:00 and 23:59",
      "windows.0.end: end must be a time HH:MM between 00:00 and 24:00",
    ]);
    expect(messages({ timeZone: "UTC", windows: [{ days: ["mon"], start: "24:00", end: "02:00" }] })[0]).toMatch(/^windows.0.start/);
    expect(messages({ timeZone: "UTC", windows: [{ days: ["monday"], start: "08:00", end: "09:00" }] })[0]).toMatch(/^windows.0.days.0: days must be among mon, tue/);
    expect(messages({ timeZone: "UTC", windows: [{ days: ["mon", "mon"], start: "08:00", end: "09:00" }] })).toEqual(["windows.0.days: A day is listed twice"]);
    expect(messages({ timeZone: "UTC", windows: [{ ...office, extra: 1 }] })[0]).toMatch(/extra/);
  });

  it("refuses overlapping windows, including across midnight and the week's end, and accepts touching ones", () => {
    expect(messages({ timeZone: "UTC", windows: [office, { days: ["wed"], start: "12:00", end: "20:00" }] })).toEqual([
      "windows.1: Windows 1 (Mon–Fri 08:30–18:00) and 2 (Wed 12:00–20:00) overlap on Wed: merge them into one window",
    ]);
    expect(messages({ timeZone: "UTC", windows: [{ days: ["sun"], start: "22:00", end: "02:00" }, { days: ["mon"], start: "01:00", end: "03:00" }] })[0]).toMatch(/Windows 1 \(Sun 22:00–02:00 \(next day\)\) and 2 \(Mon 01:00–03:00\) overlap/);
    expect(messages({ timeZone: "UTC", windows: [{ days: ["tue"], start: "20:00", end: "09:00" }, office] })[0]).toMatch(/overlap on Tue/);
    expect(messages({ timeZone: "UTC", windows: [office, { days: ["mon", "tue", "wed", "thu", "fri"], start: "18:00", end: "20:00" }, { days: ["sun"], start: "22:00", end: "08:30" }] })).toEqual([]);
  });
});

describe("describeWindow", () => {
  it("writes day runs the way people do", () => {
    expect(describeWindow({ days: ["sat", "sun"], start: "10:00", end: "14:00" })).toBe("Sat, Sun 10:00–14:00");
    expect(describeWindow({ days: ["fri", "mon", "wed", "tue"], start: "00:00", end: "24:00" })).toBe("Mon–Wed, Fri 00:00–24:00");
    expect(describeWindow({ days: ["sun"], start: "22:00", end: "06:00" })).toBe("Sun 22:00–06:00 (next day)");
  });
});
