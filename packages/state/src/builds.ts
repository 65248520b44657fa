// Whether builds are running on a satellite, from the proxies' build records: a build without
// an end whose proxy replica re-wrote it recently (every PROXY_BUILD_RECORD_INTERVAL_MS). One
// whose replica went quiet for longer than this (crashed) is "lost", not running.
import type { Db, Tx } from "@satellites/db";

/** Twice the longest batch interval a proxy may be configured with. */
export const BUILD_LOST_AFTER_MS = 120_000;

export function runningBuilds(db: Db | Tx, satelliteId: string, now = Date.now()): Promise<number> {
  return db.build.count({ where: { satelliteId, endedAt: null, seenAt: { gte: new Date(now - BUILD_LOST_AFTER_MS) } } });
}
