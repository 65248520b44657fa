// From wall-clock windows to real instants, with Luxon doing every time-zone step (offsets and
// daylight-saving changes from the runtime's IANA data). Rules at a clock change:
//  - a window opens at the EARLIEST instant its start time names and closes at the LATEST its
//    end time names: when clocks go back, 02:30 happens twice and the window covers both;
//  - a time skipped when clocks go forward is moved forward by the length of the gap, as Luxon
//    reads it (02:30 → 03:30 in Europe/Berlin): the window still occurs that day, later.
// Windows that touch or overlap in real time are merged into one period.
import { DateTime } from "luxon";
import { DAYS, minutesOf, type Schedule, type ScheduleWindow } from "./windows.ts";

export interface Period {
  opensAt: Date;
  closesAt: Date;
}

/** How far ahead to look for the next period (a weekly schedule always has one within 8 days, DST aside). */
const LOOKAHEAD_DAYS = 16;
/** Windows last at most 24 h, so one that started two local days ago may still be open. */
const LOOKBEHIND_DAYS = 2;

function at(day: DateTime, hhmm: string, pick: "earliest" | "latest"): DateTime {
  const minutes = minutesOf(hhmm);
  const date = minutes === 1440 ? day.plus({ days: 1 }) : day;
  const wall = DateTime.fromObject({ year: date.year, month: date.month, day: date.day, hour: Math.floor(minutes / 60) % 24, minute: minutes % 60 }, { zone: day.zone });
  // Two instants when the clocks go back (one per offset), one otherwise.
  const options = wall.getPossibleOffsets();
  if (options.length === 0) return wall;
  return options.reduce((a, b) => (pick === "earliest" ? (b < a ? b : a) : b > a ? b : a));
}

function occurrence(day: DateTime, w: ScheduleWindow): Period | null {
  const opens = at(day, w.start, "earliest");
  const endDay = minutesOf(w.end) <= minutesOf(w.start) ? day.plus({ days: 1 }) : day;
  const closes = at(endDay, w.end, "latest");
  // Defensive: an end moved past a start by a clock change leaves nothing to keep awake.
  return closes > opens ? { opensAt: opens.toJSDate(), closesAt: closes.toJSDate() } : null;
}

/** Merged periods that end after `from` and begin before `to`, in order. */
export function periodsBetween(schedule: Schedule, from: Date, to: Date): Period[] {
  const zone = schedule.timeZone;
  const first = DateTime.fromJSDate(from, { zone }).startOf("day").minus({ days: LOOKBEHIND_DAYS });
  const last = DateTime.fromJSDate(to, { zone }).startOf("day").plus({ days: 1 });
  const found: Period[] = [];
  // Calendar days in the zone: plus({ days }) keeps the wall clock, whatever the offset does.
  for (let day = first; day <= last; day = day.plus({ days: 1 }).startOf("day")) {
    const weekday = DAYS[day.weekday - 1]!;
    for (const w of schedule.windows) {
      if (!w.days.includes(weekday)) continue;
      const o = occurrence(day, w);
      if (o) found.push(o);
    }
  }
  found.sort((a, b) => a.opensAt.getTime() - b.opensAt.getTime());
  const merged: Period[] = [];
  for (const p of found) {
    const prev = merged[merged.length - 1];
    if (prev && p.opensAt <= prev.closesAt) {
      if (p.closesAt > prev.closesAt) prev.closesAt = p.closesAt;
    } else {
      merged.push({ ...p });
    }
  }
  return merged.filter((p) => p.closesAt > from && p.opensAt < to);
}

/** The period in force at `instant` (opensAt ≤ instant), or else the next one; null if none within 16 days. */
export function periodAt(schedule: Schedule, instant: Date): Period | null {
  const to = new Date(instant.getTime() + LOOKAHEAD_DAYS * 86_400_000);
  return periodsBetween(schedule, instant, to)[0] ?? null;
}

/** The first period opening strictly after `instant`. */
export function nextPeriodAfter(schedule: Schedule, instant: Date): Period | null {
  const p = periodAt(schedule, instant);
  if (!p) return null;
  return p.opensAt > instant ? p : periodAt(schedule, p.closesAt);
}
