// Asking for a satellite to be deleted. Refused while awake unless forced, so a running build
// is not terminated by a stray click.
import type { Db, Satellite } from "@satellites/db";
import { enqueue, type SatelliteQueues } from "@satellites/queue";
import { transition } from "@satellites/state";

export type DeleteOutcome = { kind: "deleting"; satellite: Satellite } | { kind: "refused"; reason: string };

export async function requestDelete(db: Db, queues: SatelliteQueues, satellite: Satellite, req: { actor: string; force?: boolean }): Promise<DeleteOutcome> {
  if (satellite.state === "deleting" || satellite.state === "deleted") return { kind: "deleting", satellite };
  if (satellite.state === "awake" && !req.force) return { kind: "refused", reason: "satellite is awake; put it to sleep first or delete with force" };
  if (!["awake", "asleep", "failed", "creating"].includes(satellite.state)) return { kind: "refused", reason: `cannot delete while ${satellite.state}; try again in a moment` };
  const r = await transition(db, { satellite, to: "deleting", cause: "delete", actor: req.actor });
  if (!r.won) return { kind: "refused", reason: "satellite changed state meanwhile; try again" };
  await enqueue(queues, "delete", { satelliteId: satellite.id, version: r.satellite.version });
  return { kind: "deleting", satellite: r.satellite };
}
