// Last activity per satellite, written by the proxy, read by the idle scan. Writes are
// throttled in the database itself (a no-op unless the stored value is older than the
// interval), so any number of replicas cost at most one row write per interval.
import type { Db } from "@satellites/db";

export const ACTIVITY_WRITE_INTERVAL_MS = 5_000;

export async function touchActivity(db: Db, satelliteId: string, intervalMs = ACTIVITY_WRITE_INTERVAL_MS): Promise<boolean> {
  const cutoff = new Date(Date.now() - intervalMs);
  const { count } = await db.satellite.updateMany({
    where: { id: satelliteId, OR: [{ lastActivityAt: null }, { lastActivityAt: { lt: cutoff } }] },
    data: { lastActivityAt: new Date() },
  });
  return count > 0;
}
