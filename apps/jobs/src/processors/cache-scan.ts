// Awake satellites' caches, measured again after builds. A satellite that stays awake (a
// keep-warm schedule, steady builds) would otherwise show its cache as of its last sleep, and the
// dashboard's "near its disk limit" would come too late. Off the call's path: the proxies' build
// records say which satellites built since their cache was last measured; the cache queue (one
// pending job per satellite) measures them. Only builds that ended in the last two passes count:
// a measurement that fails (a daemon that is not BuildKit has no cache to measure) is asked for
// again once, not at every pass while the satellite stays awake.
import { requestCache } from "@satellites/queue";
import type { JobsContext } from "../context.ts";

/** Satellites asked per pass; the rest come in the next. */
const BATCH = 500;

export async function cacheScan(ctx: Pick<JobsContext, "db" | "queues">, everySeconds: number): Promise<{ asked: number }> {
  const since = new Date(Date.now() - 2 * everySeconds * 1000);
  // One indexed probe of build(satelliteId, endedAt) per awake satellite.
  const due = await ctx.db.$queryRaw<{ id: string }[]>`
    SELECT s.id FROM satellite s
    WHERE s.state = 'awake' AND s."deletedAt" IS NULL AND s.upstream IS NOT NULL
      AND EXISTS (
        SELECT 1 FROM build b
        WHERE b."satelliteId" = s.id AND b."endedAt" IS NOT NULL
          AND b."endedAt" > ${since}
          AND (s."cacheMeasuredAt" IS NULL OR b."endedAt" > s."cacheMeasuredAt"))
    ORDER BY s."cacheMeasuredAt" ASC NULLS FIRST
    LIMIT ${BATCH}`;
  for (const s of due) await requestCache(ctx.queues.cache, { satelliteId: s.id, action: "measure", actor: "system" });
  return { asked: due.length };
}
