// Asking for a satellite to sleep (manual, idle scan, schedule). The request is the
// awake→stopping transition plus the sleep job; the job re-checks stream leases right before
// the provider call and returns the satellite to awake if a build started meanwhile.
import type { Db, Satellite } from "@satellites/db";
import { enqueue, type SatelliteQueues } from "@satellites/queue";
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
  const r = await transition(db, { satellite, to: "stopping", cause: req.cause, actor: req.actor, ...(req.detail ? { detail: req.detail } : {}) });
  if (!r.won) return { kind: "refused", satellite: null, reason: "satellite changed state meanwhile; try again" };
  await enqueue(queues, "sleep", { satelliteId: satellite.id, version: r.satellite.version });
  return { kind: "stopping", satellite: r.satellite };
}
