// The sleep job's point of no return, recorded in Postgres before it calls the provider stop.
// BullMQ re-runs a stalled job while its first copy may still be alive (a starved process), so
// two copies of one sleep can run at once; job data and the provider's answer cannot order
// them. This compare-and-set can: it holds only on the (id, state, version) the copy read, and
// once it is set transition() refuses stopping → awake. So "back to awake" (a call arrived)
// and "stop issued" exclude each other — whichever commits first wins — and a copy that reads
// the mark only finishes the stop. The version is not bumped: job ids derive from it.
import type { Db } from "@satellites/db";
import type { Snapshot } from "./transition.ts";

/** Records that the stop is being issued; false when the satellite left that stopping meanwhile. Idempotent. */
export async function markStopIssued(db: Db, snap: Pick<Snapshot, "id" | "version">): Promise<boolean> {
  const n = await db.$executeRaw`UPDATE satellite
    SET "stopIssuedAt" = COALESCE("stopIssuedAt", (now() AT TIME ZONE 'UTC')::timestamp(3))
    WHERE id = ${snap.id} AND state = 'stopping' AND version = ${snap.version}`;
  return n === 1;
}
