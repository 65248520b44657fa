// Asking for a satellite to be deleted. Refused while awake unless forced, so a running build
// is not terminated by a stray click.
import type { Db, Satellite, Tx } from "@satellites/db";
import { enqueue, type SatelliteQueues } from "@satellites/queue";
import { transition } from "@satellites/state";

export type DeleteOutcome = { kind: "deleting"; satellite: Satellite } | { kind: "refused"; reason: string };

/** `then` runs in the transaction that moves it to deleting: the caller's audit record commits with it. */
export async function requestDelete(db: Db, queues: SatelliteQueues, satellite: Satellite, req: { actor: string; force?: boolean }, then?: (tx: Tx, satellite: Satellite) => Promise<void>): Promise<DeleteOutcome> {
  if (satellite.state === "deleting" || satellite.state === "deleted") return { kind: "deleting", satellite };
  if (satellite.state === "awake" && !req.force) return { kind: "refused", reason: "satellite is awake; put it to sleep first or delete with force" };
  if (!["awake", "asleep", "failed", "creating"].includes(satellite.state)) return { kind: "refused", reason: `cannot delete while ${satellite.state}; try again in a moment` };
  const r = await db.$transaction(async (tx) => {
    const moved = await transition(tx, { satellite, to: "deleting", cause: "delete", actor: req.actor });
    if (moved.won) await then?.(tx, moved.satellite);
    return moved;
  });
  if (!r.won) return { kind: "refused", reason: "satellite changed state meanwhile; try again" };
  await enqueue(queues, "delete", { satelliteId: satellite.id, version: r.satellite.version });
  return { kind: "deleting", satellite: r.satellite };
}
