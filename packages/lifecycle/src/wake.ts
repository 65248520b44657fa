// Asking for a satellite to be awake — from the proxy (cause `request`), the dashboard/API
// (`manual`) or a schedule. Exactly one caller wins asleep→starting and enqueues the wake job
// (its id derives from satellite id + version, so a retry is the same job); every other caller
// just learns that a wake is under way and waits for the announcement.
import type { Db, Satellite } from "@satellites/db";
import { enqueue, type SatelliteQueues } from "@satellites/queue";
import { type Cause, transition } from "@satellites/state";

export type WakeOutcome =
  | { kind: "awake"; satellite: Satellite }
  /** `started`: this caller won the race and enqueued the wake. */
  | { kind: "waking"; satellite: Satellite; started: boolean }
  | { kind: "unavailable"; satellite: Satellite | null; reason: string };

export interface WakeRequest {
  cause: Extract<Cause, "request" | "manual" | "schedule">;
  actor: string;
  /** Why, for the history (e.g. the schedule window being opened). */
  detail?: Record<string, string | number | boolean>;
  /**
   * Asked after each read of a satellite that is not awake, before acting on it: false leaves
   * it as it is ("unavailable"). The schedule scan's claim can be released by a person's sleep
   * after it was made; read after the satellite, the release is seen whenever that sleep is
   * (it commits both together), and a later change of state loses the compare-and-set.
   */
  onlyIf?: () => Promise<boolean>;
}

/** States a wake acts on (the others are awake, on the way, or gone). */
const WAKEABLE = new Set(["stopping", "updating", "failed", "asleep"]);

export async function requestWake(db: Db, queues: SatelliteQueues, satelliteId: string, req: WakeRequest, known?: Satellite): Promise<WakeOutcome> {
  let sat: Satellite | null = known ?? null;
  // A lost race means the state moved; read again and decide anew (bounded: states converge).
  for (let attempt = 0; attempt < 6; attempt++) {
    sat ??= await db.satellite.findUnique({ where: { id: satelliteId } });
    if (!sat || sat.deletedAt) return { kind: "unavailable", satellite: sat, reason: "satellite not found" };
    if (req.onlyIf && WAKEABLE.has(sat.state) && !(await req.onlyIf())) return { kind: "unavailable", satellite: sat, reason: "no longer wanted" };
    switch (sat.state) {
      case "awake":
        return { kind: "awake", satellite: sat };
      case "creating":
      case "starting":
        return { kind: "waking", satellite: sat, started: false };
      case "stopping":
      case "updating": {
        // The sleep (resize) job reads this flag in the same transaction that reaches asleep and
        // wakes right away; if asleep was reached first, this updates nothing and we go round again.
        const { count } = await db.satellite.updateMany({ where: { id: sat.id, state: sat.state, version: sat.version }, data: { wakeRequested: true } });
        if (count === 1) return { kind: "waking", satellite: sat, started: false };
        break;
      }
      case "failed":
      case "asleep": {
        // A build must not silently retry a broken machine; a person (or the API) retries.
        if (sat.state === "failed" && req.cause === "request") {
          return { kind: "unavailable", satellite: sat, reason: `satellite failed: ${sat.failureReason ?? "unknown reason"}` };
        }
        // No machine to start: its launch failed before it had one, so a retry launches it.
        const to = sat.state === "failed" && !sat.instanceId ? "creating" : "starting";
        const r = await transition(db, { satellite: sat, to, cause: req.cause, actor: req.actor, set: { wakeRequested: false, failureReason: null }, ...(req.detail ? { detail: req.detail } : {}) });
        if (r.won) {
          await enqueue(queues, to === "creating" ? "launch" : "wake", { satelliteId: sat.id, version: r.satellite.version });
          return { kind: "waking", satellite: r.satellite, started: true };
        }
        break;
      }
      case "deleting":
      case "deleted":
        return { kind: "unavailable", satellite: sat, reason: "satellite is deleted" };
    }
    sat = null;
  }
  return { kind: "unavailable", satellite: sat, reason: "satellite state kept changing; try again" };
}
