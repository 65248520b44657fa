// Last activity per satellite, written by the proxy, read by the idle scan. Writes are
// throttled in the database itself (a no-op unless the stored value is older than the
// interval), so any number of replicas cost at most one row write per interval.
import type { Db } from "@satellites/db";

export const ACTIVITY_WRITE_INTERVAL_MS = 5_000;

/**
 * Records activity `at` (now by default) unless the stored value is within `intervalMs` of it; a
 * later value is never moved back (a close recorded after the fact).
 */
export async function touchActivity(db: Db, satelliteId: string, intervalMs = ACTIVITY_WRITE_INTERVAL_MS, at = new Date()): Promise<boolean> {
  const cutoff = new Date(at.getTime() - intervalMs);
  const { count } = await db.satellite.updateMany({
    where: { id: satelliteId, OR: [{ lastActivityAt: null }, { lastActivityAt: { lt: cutoff } }] },
    data: { lastActivityAt: at },
  });
  return count > 0;
}
