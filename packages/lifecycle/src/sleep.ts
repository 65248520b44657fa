// Asking for a satellite to sleep (manual, idle scan, schedule). The request is the
// awake→stopping transition plus the sleep job; the job re-checks stream leases right before
// the provider call and returns the satellite to awake if a build started meanwhile.
//
// A person's sleep inside a keep-warm window is honoured for the rest of that window: the
// window's hold on the idle scan ends in the same transaction (a build may still wake the
// satellite, and the idle timeout then applies); the next window wakes it as usual.
import type { Db, Satellite, Tx } from "@satellites/db";
import { enqueue, type SatelliteQueues } from "@satellites/queue";
import { planAt, type Schedule } from "@satellites/schedule";
import { type Cause, transition } from "@satellites/state";

export type SleepOutcome = { kind: "stopping"; satellite: Satellite } | { kind: "refused"; satellite: Satellite | null; reason: string };

export async function requestSleep(
  db: Db,
  queues: SatelliteQueues,
  satellite: Satellite,
  req: { cause: Extract<Cause, "idle" | "manual" | "schedule" | "limits">; actor: string; detail?: Record<string, string | number | boolean> },
  /** Runs in the stop's transaction (manual sleeps): the caller's audit record commits with it. */
  then?: (tx: Tx, satellite: Satellite) => Promise<void>,
): Promise<SleepOutcome> {
  if (satellite.state === "stopping" || satellite.state === "asleep") return { kind: "stopping", satellite };
  if (satellite.state !== "awake") return { kind: "refused", satellite, reason: `cannot sleep while ${satellite.state}` };
  const stop = (tx: Db | Tx, detail: Record<string, string | number | boolean> | undefined) =>
    transition(tx, { satellite, to: "stopping", cause: req.cause, actor: req.actor, ...(detail && Object.keys(detail).length ? { detail } : {}) });
  const r =
    req.cause === "manual"
      ? await db.$transaction(async (tx) => {
          // The schedule row is locked before it is read: the scan's claim of a window (an
          // UPDATE of the same row) is then either seen here, and released, or comes after and
          // finds the row moved on. Read unlocked, a claim landing in between kept its hold.
          const held = await keepWarmHold(tx, satellite.id);
          const moved = await stop(tx, { ...req.detail, ...(held ? { keepWarmReleased: held.until.toISOString() } : {}) });
          if (moved.won && held) await tx.satelliteSchedule.update({ where: { satelliteId: satellite.id }, data: { awakeUntil: new Date(), wakeAt: held.nextWakeAt } });
          if (moved.won) await then?.(tx, moved.satellite);
          return moved;
        })
      : await stop(db, req.detail);
  if (!r.won) return { kind: "refused", satellite: null, reason: "satellite changed state meanwhile; try again" };
  await enqueue(queues, "sleep", { satelliteId: satellite.id, version: r.satellite.version });
  return { kind: "stopping", satellite: r.satellite };
}

/**
 * The keep-warm window holding this satellite awake — claimed by the schedule scan (awakeUntil
 * ahead) and/or due and not yet acted on (wakeAt passed) — and the wake after it.
 */
async function keepWarmHold(tx: Tx, satelliteId: string): Promise<{ until: Date; nextWakeAt: Date } | null> {
  await tx.$executeRaw`SELECT 1 FROM satellite_schedule WHERE "satelliteId" = ${satelliteId} FOR UPDATE`;
  const row = await tx.satelliteSchedule.findUnique({ where: { satelliteId } });
  if (!row) return null;
  const now = new Date();
  const claimed = row.awakeUntil && row.awakeUntil > now ? row.awakeUntil : null;
  if (row.wakeAt > now) return claimed ? { until: claimed, nextWakeAt: row.wakeAt } : null;
  const plan = planAt({ timeZone: row.timeZone, windows: row.windows as unknown as Schedule["windows"] }, now);
  const until = claimed ?? (plan.due ? plan.period.closesAt : null);
  return until ? { until, nextWakeAt: plan.due ? plan.nextWakeAt : plan.wakeAt } : null;
}
