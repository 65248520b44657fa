// Changing a satellite's limits. The new values are saved at once and marked pending; the
// apply-limits job enforces them (local: live in the cgroup; ec2: user-data, which EC2 only
// accepts on a stopped instance — so on an awake EC2 satellite they stay pending until the
// next wake, and the dashboard says "applies at next wake").
import { type Limits, limitColumns, limitsOf, limitsSchema, type SizeName } from "@satellites/catalog";
import type { Db, Satellite, Tx } from "@satellites/db";
import { enqueue, type SatelliteQueues } from "@satellites/queue";
import { lockSatellite } from "./row-lock.ts";

export type LimitsOutcome = { kind: "saved"; satellite: Satellite } | { kind: "invalid"; issues: string[] } | { kind: "refused"; reason: string };

const gone = (s: Pick<Satellite, "state">) => s.state === "deleting" || s.state === "deleted";

/**
 * Saves `change` over the satellite's limits as they are now (any subset; the rest keep their
 * values), checked against its size as it is now: both read under the row's lock, so a resize
 * or another save committed meanwhile is seen. `then` runs in the transaction that saves them,
 * with the limits before: the caller's audit record commits with them.
 */
export async function requestLimits(
  db: Db,
  queues: SatelliteQueues,
  satellite: Satellite,
  change: Partial<Limits>,
  then?: (tx: Tx, satellite: Satellite, before: Limits) => Promise<void>,
): Promise<LimitsOutcome> {
  if (gone(satellite)) return { kind: "refused", reason: "satellite is deleted" };
  const given = Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined));
  // Limits are not a state, so no state version bump — but limitsVersion moves, and only here:
  // jobs that applied older limits see it and leave them pending.
  const out = await db.$transaction(async (tx): Promise<LimitsOutcome> => {
    const current = await lockSatellite(tx, satellite.id);
    if (!current || gone(current)) return { kind: "refused", reason: "satellite is deleted" };
    const before = limitsOf(current);
    const parsed = limitsSchema(current.size as SizeName).safeParse({ ...before, ...given });
    if (!parsed.success) return { kind: "invalid", issues: parsed.error.issues.map((i) => i.message) };
    const row = await tx.satellite.update({ where: { id: satellite.id }, data: { ...limitColumns(parsed.data), limitsPending: true, limitsVersion: { increment: 1 } } });
    await then?.(tx, row, before);
    return { kind: "saved", satellite: row };
  });
  // The job id carries the limits version: each change gets its own job, and the job reads the
  // latest limits, so an older job running late applies the newest values anyway.
  if (out.kind === "saved") await enqueue(queues, "applyLimits", { satelliteId: satellite.id, version: out.satellite.limitsVersion });
  return out;
}
