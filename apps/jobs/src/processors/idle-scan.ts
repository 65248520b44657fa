// Idle = awake, no live stream lease on any proxy replica, and last activity older than the
// satellite's own idle timeout. One indexed query finds candidates, one Redis pipeline checks
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
 * bound lets the query range-scan the (state, lastActivityAt) index before the per-row check.
 */
export async function findIdle(ctx: Pick<JobsContext, "db">, minIdleSeconds: number, limit = BATCH): Promise<Candidate[]> {
  return ctx.db.$queryRaw<Candidate[]>`
    SELECT id, "orgId", version, "stateChangedAt", "idleTimeoutSeconds",
           EXTRACT(EPOCH FROM ((now() AT TIME ZONE 'UTC') - COALESCE("lastActivityAt", "stateChangedAt")))::int AS "idleSeconds"
    FROM satellite
    WHERE state = 'awake'
      AND ("lastActivityAt" IS NULL OR "lastActivityAt" < (now() AT TIME ZONE 'UTC') - make_interval(secs => ${minIdleSeconds}))
      AND COALESCE("lastActivityAt", "stateChangedAt") < (now() AT TIME ZONE 'UTC') - make_interval(secs => "idleTimeoutSeconds")
    ORDER BY "lastActivityAt" ASC NULLS FIRST
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
