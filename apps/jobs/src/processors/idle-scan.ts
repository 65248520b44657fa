// Idle = awake, no live stream lease on any proxy replica, last activity older than the
// satellite's own idle timeout, and no keep-warm window holding it awake (awakeUntil, set by
// the schedule scan). One indexed query finds candidates, one Redis pipeline checks
// their leases, one set-based compare-and-set moves them to stopping (with their history
// events and announcements), one bulk enqueue hands them to the sleep worker — which re-checks
// leases right before the provider stop call.
import { jobIdFor, QUEUE_NAMES, withLiveLeases } from "@satellites/queue";
import { transitionMany } from "@satellites/state";
import type { JobsContext } from "../context.ts";

const BATCH = 500;

export interface IdleScanResult {
  candidates: number;
  leased: number;
  stopping: number;
}

interface Candidate {
  id: string;
  orgId: string;
  version: number;
  stateChangedAt: Date;
  idleSeconds: number;
  idleTimeoutSeconds: number;
}

/**
 * `minIdleSeconds` (IDLE_MIN_SECONDS) is the shortest idle timeout honoured: a constant lower
 * bound for the range scan. Longest idle first, in two parts that each walk the
 * (state, lastActivityAt) index in its own order and stop at `limit`: satellites never active
 * (no lastActivityAt; idle since their state changed), then the rest by last activity. One
 * query with `ORDER BY "lastActivityAt" NULLS FIRST` cannot use that index's order (it keeps
 * NULLs last), so it read and sorted every awake satellite past the minimum: 549 ms at 200,000
 * awake satellites (bench:scale --large) to return 500.
 */
export async function findIdle(ctx: Pick<JobsContext, "db">, minIdleSeconds: number, limit = BATCH): Promise<Candidate[]> {
  return ctx.db.$queryRaw<Candidate[]>`
    SELECT id, "orgId", version, "stateChangedAt", "idleTimeoutSeconds", "idleSeconds" FROM (
      (SELECT id, "orgId", version, "stateChangedAt", "idleTimeoutSeconds", 0 AS part, "stateChangedAt" AS since,
              EXTRACT(EPOCH FROM ((now() AT TIME ZONE 'UTC') - "stateChangedAt"))::int AS "idleSeconds"
       FROM satellite
       WHERE state = 'awake' AND "lastActivityAt" IS NULL
         AND "stateChangedAt" < (now() AT TIME ZONE 'UTC') - make_interval(secs => "idleTimeoutSeconds")
         AND NOT EXISTS (SELECT 1 FROM satellite_schedule k WHERE k."satelliteId" = satellite.id AND k."awakeUntil" > (now() AT TIME ZONE 'UTC'))
       ORDER BY "stateChangedAt" ASC
       LIMIT ${limit})
      UNION ALL
      (SELECT id, "orgId", version, "stateChangedAt", "idleTimeoutSeconds", 1 AS part, "lastActivityAt" AS since,
              EXTRACT(EPOCH FROM ((now() AT TIME ZONE 'UTC') - "lastActivityAt"))::int AS "idleSeconds"
       FROM satellite
       WHERE state = 'awake'
         AND "lastActivityAt" < (now() AT TIME ZONE 'UTC') - make_interval(secs => ${minIdleSeconds})
         AND "lastActivityAt" < (now() AT TIME ZONE 'UTC') - make_interval(secs => "idleTimeoutSeconds")
         AND NOT EXISTS (SELECT 1 FROM satellite_schedule k WHERE k."satelliteId" = satellite.id AND k."awakeUntil" > (now() AT TIME ZONE 'UTC'))
       ORDER BY "lastActivityAt" ASC
       LIMIT ${limit})
    ) idle
    ORDER BY part, since
    LIMIT ${limit}`;
}

export async function idleScan(ctx: JobsContext): Promise<IdleScanResult> {
  const end = ctx.metrics.idleScanSeconds.startTimer();
  const candidates = await findIdle(ctx, ctx.config.IDLE_MIN_SECONDS);
  const leased = await withLiveLeases(
    ctx.redis,
    candidates.map((c) => c.id),
  );
  const sleepers = candidates.filter((c) => !leased.has(c.id));
  const moved = await transitionMany(ctx.db, {
    satellites: sleepers.map((c) => ({ ...c, state: "awake" as const, detail: { idleSeconds: c.idleSeconds, idleTimeoutSeconds: c.idleTimeoutSeconds } })),
    from: "awake",
    to: "stopping",
    cause: "idle",
    actor: "system",
  });
  if (moved.length) {
    await ctx.queues.sleep.addBulk(
      moved.map((m) => {
        const data = { satelliteId: m.id, version: m.version };
        return { name: "sleep", data, opts: { jobId: jobIdFor("sleep", data) } };
      }),
    );
  }
  end();
  if (moved.length) ctx.log.info({ queue: QUEUE_NAMES.idleScan, candidates: candidates.length, leased: leased.size, stopping: moved.length }, "idle scan");
  return { candidates: candidates.length, leased: leased.size, stopping: moved.length };
}
