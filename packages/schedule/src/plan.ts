// What the schedule scan stores and acts on. A satellite is woken WAKE_LEAD_MS before its
// period opens (the scan runs every SCHEDULE_SCAN_EVERY_MS ≤ 20 s, so the wake is asked for
// 35–55 s ahead: a local satellite is up in about a second, an EC2 resume takes ~20 s), and the
// idle scan leaves it awake until the period closes.
import { periodAt, type Period } from "./periods.ts";
import type { Schedule } from "./windows.ts";

export const WAKE_LEAD_MS = 55_000;
/** A schedule whose windows never occur (only inside skipped DST hours) is looked at again daily. */
const RECHECK_MS = 86_400_000;

export type Plan =
  /** The period is open, or opens within the lead time: wake now and keep awake until it closes. */
  | { due: true; period: Period; next: Period | null; nextWakeAt: Date }
  /** Nothing to do before `wakeAt`. */
  | { due: false; period: Period | null; wakeAt: Date };

export function planAt(schedule: Schedule, now: Date, leadMs = WAKE_LEAD_MS): Plan {
  const horizon = new Date(now.getTime() + leadMs);
  // The first period that has not closed yet: in force now, or the next to open.
  const period = periodAt(schedule, now);
  if (!period) return { due: false, period: null, wakeAt: new Date(now.getTime() + RECHECK_MS) };
  if (period.opensAt > horizon) return { due: false, period, wakeAt: new Date(period.opensAt.getTime() - leadMs) };
  // Periods are merged, so the next one opens strictly after this one closes.
  const next = periodAt(schedule, period.closesAt);
  const nextWakeAt = next ? new Date(Math.max(next.opensAt.getTime() - leadMs, now.getTime() + 1000)) : new Date(period.closesAt.getTime() + RECHECK_MS);
  return { due: true, period, next, nextWakeAt };
}
