// Saving a keep-warm schedule is an intent like any other: the row says when the schedule scan
// (jobs) next acts, and until when the idle scan must leave the satellite awake. A schedule
// saved while one of its windows is open (or opens within the wake lead) is due at once: the
// next scan wakes the satellite, and from now on the idle scan leaves it awake.
import type { Db, SatelliteSchedule, Tx } from "@satellites/db";
import { planAt, type Schedule } from "@satellites/schedule";

export async function saveSchedule(db: Db | Tx, satelliteId: string, schedule: Schedule | null, now = new Date()): Promise<SatelliteSchedule | null> {
  if (!schedule) {
    await db.satelliteSchedule.deleteMany({ where: { satelliteId } });
    return null;
  }
  const plan = planAt(schedule, now);
  const timing = plan.due ? { wakeAt: now, awakeUntil: plan.period.closesAt } : { wakeAt: plan.wakeAt, awakeUntil: null };
  const fields = { timeZone: schedule.timeZone, windows: schedule.windows.map((w) => ({ days: w.days, start: w.start, end: w.end })), ...timing };
  return db.satelliteSchedule.upsert({ where: { satelliteId }, create: { satelliteId, ...fields }, update: fields });
}
