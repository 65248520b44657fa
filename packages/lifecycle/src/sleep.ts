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
): Promise<SleepOutcome> {
  if (satellite.state === "stopping" || satellite.state === "asleep") return { kind: "stopping", satellite };
  if (satellite.state !== "awake") return { kind: "refused", satellite, reason: `cannot sleep while ${satellite.state}` };
  const held = req.cause === "manual" ? await keepWarmHold(db, satellite.id) : null;
  const detail = { ...req.detail, ...(held ? { keepWarmReleased: held.until.toISOString() } : {}) };
  const stop = (tx: Db | Tx) => transition(tx, { satellite, to: "stopping", cause: req.cause, actor: req.actor, ...(Object.keys(detail).length ? { detail } : {}) });
  const r = held
    ? await db.$transaction(async (tx) => {
        const moved = await stop(tx);
        if (moved.won) await tx.satelliteSchedule.updateMany({ where: { satelliteId: satellite.id, wakeAt: held.wakeAt }, data: { awakeUntil: new Date(), wakeAt: held.nextWakeAt } });
        return moved;
      })
    : await stop(db);
  if (!r.won) return { kind: "refused", satellite: null, reason: "satellite changed state meanwhile; try again" };
  await enqueue(queues, "sleep", { satelliteId: satellite.id, version: r.satellite.version });
  return { kind: "stopping", satellite: r.satellite };
}

/**
 * The keep-warm window holding this satellite awake — claimed by the schedule scan (awakeUntil
 * ahead) and/or due and not yet acted on (wakeAt passed) — and the wake after it.
 */
async function keepWarmHold(db: Db, satelliteId: string): Promise<{ until: Date; wakeAt: Date; nextWakeAt: Date } | null> {
  const row = await db.satelliteSchedule.findUnique({ where: { satelliteId } });
  if (!row) return null;
  const now = new Date();
  const claimed = row.awakeUntil && row.awakeUntil > now ? row.awakeUntil : null;
  if (row.wakeAt > now) return claimed ? { until: claimed, wakeAt: row.wakeAt, nextWakeAt: row.wakeAt } : null;
  const plan = planAt({ timeZone: row.timeZone, windows: row.windows as unknown as Schedule["windows"] }, now);
  const until = claimed ?? (plan.due ? plan.period.closesAt : null);
  return until ? { until, wakeAt: row.wakeAt, nextWakeAt: plan.due ? plan.nextWakeAt : plan.wakeAt } : null;
}
