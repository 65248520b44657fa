// Changing a satellite's limits. The new values are saved at once and marked pending; the
// apply-limits job enforces them (local: live in the cgroup; ec2: user-data, which EC2 only
// accepts on a stopped instance — so on an awake EC2 satellite they stay pending until the
// next wake, and the dashboard says "applies at next wake").
import { type Limits, limitColumns, limitsSchema, type SizeName } from "@satellites/catalog";
import type { Db, Satellite, Tx } from "@satellites/db";
import { enqueue, type SatelliteQueues } from "@satellites/queue";

export type LimitsOutcome = { kind: "saved"; satellite: Satellite } | { kind: "invalid"; issues: string[] } | { kind: "refused"; reason: string };

/** `then` runs in the transaction that saves them: the caller's audit record commits with them. */
export async function requestLimits(db: Db, queues: SatelliteQueues, satellite: Satellite, limits: Limits, then?: (tx: Tx, satellite: Satellite) => Promise<void>): Promise<LimitsOutcome> {
  const parsed = limitsSchema(satellite.size as SizeName).safeParse(limits);
  if (!parsed.success) return { kind: "invalid", issues: parsed.error.issues.map((i) => i.message) };
  if (satellite.state === "deleting" || satellite.state === "deleted") return { kind: "refused", reason: "satellite is deleted" };
  // Guarded on the row not being deleted meanwhile; limits are not a state, so no state
  // version bump — but limitsVersion moves, and only here: jobs that applied older limits
  // see it and leave them pending.
  const updated = await db.$transaction(async (tx) => {
    const { count } = await tx.satellite.updateMany({
      where: { id: satellite.id, state: { notIn: ["deleting", "deleted"] } },
      data: { ...limitColumns(parsed.data), limitsPending: true, limitsVersion: { increment: 1 } },
    });
    if (count === 0) return null;
    const row = await tx.satellite.findUniqueOrThrow({ where: { id: satellite.id } });
    await then?.(tx, row);
    return row;
  });
  if (!updated) return { kind: "refused", reason: "satellite is deleted" };
  // The job id carries the limits version: each change gets its own job, and the job reads the
  // latest limits, so an older job running late applies the newest values anyway.
  await enqueue(queues, "applyLimits", { satelliteId: satellite.id, version: updated.limitsVersion });
  return { kind: "saved", satellite: updated };
}
