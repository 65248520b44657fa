// A keep-warm schedule as a person writes it: weekly windows of wall-clock time in one IANA time
// zone, e.g. Mon–Fri 08:30–18:00 Europe/Berlin. Validation here is the only gate (API and UI
// share it): a bad zone, an empty, overlapping or malformed window, or too many of them is a
// sentence the person can act on. Real instants are computed in periods.ts, with Luxon.
import { IANAZone } from "luxon";
import { z } from "zod";

export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Day = (typeof DAYS)[number];
export const DAY_LABELS: Record<Day, string> = { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" };

/** Enough for a different window every day with a break, without inviting abuse. */
export const MAX_WINDOWS = 20;

export interface ScheduleWindow {
  /** Days the window starts on. */
  days: Day[];
  /** "HH:MM", local to the schedule's zone. */
  start: string;
  /** "HH:MM" or "24:00"; at or before `start` means the window ends the next day. */
  end: string;
}

export interface Schedule {
  timeZone: string;
  windows: ScheduleWindow[];
}

const MINUTES_PER_DAY = 1440;
const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;

/** Minutes since midnight of "HH:MM" (24:00 allowed). */
export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number) as [number, number];
  return h * 60 + m;
}

/** Minutes from start to end, crossing midnight when end is at or before start. */
export function lengthOf(w: Pick<ScheduleWindow, "start" | "end">): number {
  const s = minutesOf(w.start);
  const e = minutesOf(w.end);
  return e > s ? e - s : e + MINUTES_PER_DAY - s;
}

/** "Europe/Berlin" for "europe/berlin"; null when the runtime knows no such IANA zone. */
export function canonicalZone(name: string): string | null {
  // IANA names only: no "+02:00" offsets, no locale-dependent abbreviations beyond UTC aliases.
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(name) || !IANAZone.isValidZone(name)) return null;
  return new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
}

const time = (what: string, allow24: boolean) =>
  z
    .string({ message: `${what} must be a time such as 08:30` })
    .trim()
    .regex(allow24 ? /^(([01]\d|2[0-3]):[0-5]\d|24:00)$/ : /^([01]\d|2[0-3]):[0-5]\d$/, `${what} must be a time HH:MM between 00:00 and ${allow24 ? "24:00" : "23:59"}`);

const daySchema = z.enum(DAYS, { message: `days must be among ${DAYS.join(", ")}` });

export const windowSchema = z
  .object({
    days: z.array(daySchema, { message: "days must be a list such as [\"mon\", \"tue\"]" }).min(1, "Pick at least one day").max(7, "A window has at most 7 days"),
    start: time("start", false),
    end: time("end", true),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (new Set(w.days).size !== w.days.length) ctx.addIssue({ code: "custom", path: ["days"], message: "A day is listed twice" });
    // Equal times are ambiguous (nothing, or a full day?): say which to write instead.
    if (minutesOf(w.start) === minutesOf(w.end) % MINUTES_PER_DAY) {
      ctx.addIssue({ code: "custom", path: ["end"], message: `The window is empty: it starts and ends at ${w.start} (for a whole day write 00:00–24:00)` });
    }
  });

export const scheduleSchema = z
  .object({
    timeZone: z
      .string({ message: "timeZone is required, e.g. Europe/Berlin" })
      .trim()
      .min(1, "timeZone is required, e.g. Europe/Berlin")
      .max(64, "timeZone is not a time zone")
      .transform((name, ctx) => {
        const zone = canonicalZone(name);
        if (!zone) {
          ctx.addIssue({ code: "custom", message: `Unknown time zone "${name}": use an IANA name such as Europe/Berlin or America/New_York` });
          return z.NEVER;
        }
        return zone;
      }),
    windows: z
      .array(windowSchema, { message: "windows must be a list" })
      .min(1, "A schedule needs at least one window (to remove the schedule, send null)")
      .max(MAX_WINDOWS, `A schedule has at most ${MAX_WINDOWS} windows`),
  })
  .strict()
  .superRefine((s, ctx) => {
    const clash = firstOverlap(s.windows);
    if (clash) ctx.addIssue({ code: "custom", path: ["windows", clash.b], message: clash.message });
  });

/** The week-minute spans [start, end) of a window, one per day; an end may pass the week's end. */
function spans(w: ScheduleWindow): { day: Day; from: number; to: number }[] {
  return w.days.map((day) => {
    const from = DAYS.indexOf(day) * MINUTES_PER_DAY + minutesOf(w.start);
    return { day, from, to: from + lengthOf(w) };
  });
}

/**
 * Two windows covering the same wall-clock minute are refused rather than merged: a person who
 * wrote them overlapping probably meant something else. Windows that only touch (one ends at
 * 18:00, the next starts at 18:00) are fine, and keep the satellite awake across the seam.
 */
export function firstOverlap(windows: readonly ScheduleWindow[]): { a: number; b: number; message: string } | null {
  const all = windows.flatMap((w, i) => spans(w).map((s) => ({ ...s, i })));
  for (const x of all) {
    for (const y of all) {
      if (y.i <= x.i) continue;
      // The week is a circle: Sunday 22:00–02:00 meets Monday 01:00.
      const overlaps = [-MINUTES_PER_WEEK, 0, MINUTES_PER_WEEK].some((k) => x.from < y.to + k && y.from + k < x.to);
      if (overlaps) {
        return {
          a: x.i,
          b: y.i,
          message: `Windows ${x.i + 1} (${describeWindow(windows[x.i]!)}) and ${y.i + 1} (${describeWindow(windows[y.i]!)}) overlap on ${DAY_LABELS[x.day]}: merge them into one window`,
        };
      }
    }
  }
  return null;
}

/** "Mon–Fri 08:30–18:00", "Sat, Sun 10:00–14:00", "Sun 22:00–02:00 (next day)". */
export function describeWindow(w: ScheduleWindow): string {
  const idx = [...new Set(w.days)].map((d) => DAYS.indexOf(d)).sort((a, b) => a - b);
  const runs: string[] = [];
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1] === idx[j]! + 1) j++;
    const first = DAY_LABELS[DAYS[idx[i]!]!];
    const last = DAY_LABELS[DAYS[idx[j]!]!];
    runs.push(j - i >= 2 ? `${first}–${last}` : j > i ? `${first}, ${last}` : first);
    i = j + 1;
  }
  const overnight = minutesOf(w.end) <= minutesOf(w.start) && w.end !== "00:00";
  return `${runs.join(", ")} ${w.start}–${w.end}${overnight ? " (next day)" : ""}`;
}

export function describeSchedule(s: Schedule): string {
  return `${s.windows.map(describeWindow).join("; ")} ${s.timeZone}`;
}
