// Keep-warm schedules: one BullMQ job scheduler runs this every SCHEDULE_SCAN_EVERY_MS. One
// indexed query finds the schedules whose wake time has come; for each, the period in force (or
// opening within the lead time) is worked out with Luxon, the wake is asked for with cause
// `schedule` (the same compare-and-set as any wake: exactly one, whoever else asks), and the row
// records until when the idle scan must leave the satellite awake and when to wake it next.
//
// One scan of a table, not one BullMQ scheduler per satellite: Redis keeps nothing across a
// restart here, Postgres does; and the next wake the page shows is the one acted on.
import { requestWake } from "@satellites/lifecycle";
import { describeSchedule, planAt, type Schedule, WAKE_LEAD_MS } from "@satellites/schedule";
import pLimit from "p-limit";
import type { JobsContext } from "../context.ts";

const BATCH = 500;
const CONCURRENCY = 8;

export interface ScheduleScanResult {
  due: number;
  woken: number;
  dropped: number;
}

interface DueRow {
  satelliteId: string;
  timeZone: string;
  windows: Schedule["windows"];
  wakeAt: Date;
  state: string;
  deletedAt: Date | null;
}

/** `now` is a parameter so tests can stand just before a clock change; the jobs process passes the time. */
export async function scheduleScan(ctx: Pick<JobsContext, "db" | "queues" | "log">, now = new Date()): Promise<ScheduleScanResult> {
  const due = await ctx.db.$queryRaw<DueRow[]>`
    SELECT k."satelliteId", k."timeZone", k.windows, k."wakeAt", s.state::text AS state, s."deletedAt"
    FROM satellite_schedule k JOIN satellite s ON s.id = k."satelliteId"
    WHERE k."wakeAt" <= (${now.toISOString()}::timestamptz AT TIME ZONE 'UTC')
    ORDER BY k."wakeAt"
    LIMIT ${BATCH}`;
  const limit = pLimit(CONCURRENCY);
  const outcomes = await Promise.all(due.map((row) => limit(() => act(ctx, row, now))));
  const result = { due: due.length, woken: outcomes.filter((o) => o === "woken").length, dropped: outcomes.filter((o) => o === "dropped").length };
  if (due.length) ctx.log.info(result, "schedule scan");
  return result;
}

async function act(ctx: Pick<JobsContext, "db" | "queues" | "log">, row: DueRow, now: Date): Promise<"woken" | "moved" | "dropped" | "retry"> {
  // A deleted satellite keeps its row (history) but not its schedule.
  if (row.deletedAt || row.state === "deleting" || row.state === "deleted") {
    await ctx.db.satelliteSchedule.deleteMany({ where: { satelliteId: row.satelliteId, wakeAt: row.wakeAt } });
    return "dropped";
  }
  const schedule: Schedule = { timeZone: row.timeZone, windows: row.windows };
  const plan = planAt(schedule, now, WAKE_LEAD_MS);
  // Only the scan that read this wakeAt moves it: a schedule saved meanwhile keeps its own plan.
  const advance = (data: { wakeAt: Date; awakeUntil?: Date }) => ctx.db.satelliteSchedule.updateMany({ where: { satelliteId: row.satelliteId, wakeAt: row.wakeAt }, data });
  if (!plan.due) {
    await advance({ wakeAt: plan.wakeAt });
    return "moved";
  }
  // Claim this period first (the row moves on to the next wake), then wake: a person who puts
  // the satellite to sleep meanwhile sees the hold and releases it, instead of being overridden
  // by a wake decided before. A failed wake gives the claim back for the next scan.
  const claimed = await advance({ wakeAt: plan.nextWakeAt, awakeUntil: plan.period.closesAt });
  if (claimed.count === 0) return "moved";
  const giveBack = () => ctx.db.satelliteSchedule.updateMany({ where: { satelliteId: row.satelliteId, wakeAt: plan.nextWakeAt }, data: { wakeAt: row.wakeAt } });
  // A person's sleep since the claim released it (awakeUntil moved to its own time): no wake.
  let released = false;
  const stillClaimed = async () => {
    const held = await ctx.db.satelliteSchedule.count({ where: { satelliteId: row.satelliteId, awakeUntil: plan.period.closesAt } });
    released = held === 0;
    return !released;
  };
  try {
    const woke = await requestWake(ctx.db, ctx.queues, row.satelliteId, {
      cause: "schedule",
      actor: "system",
      detail: { schedule: describeSchedule(schedule), opensAt: plan.period.opensAt.toISOString(), closesAt: plan.period.closesAt.toISOString() },
      onlyIf: stillClaimed,
    });
    if (released) return "moved";
    // The state kept changing: due again, and the next scan asks again.
    if (woke.kind === "unavailable" && woke.satellite && !woke.satellite.deletedAt) {
      ctx.log.warn({ satelliteId: row.satelliteId, reason: woke.reason }, "scheduled wake not possible yet");
      await giveBack();
      return "retry";
    }
  } catch (err) {
    await giveBack().catch(() => {});
    throw err;
  }
  return "woken";
}
