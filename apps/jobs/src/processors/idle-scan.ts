// Idle = awake, no live stream lease on any proxy replica, and last activity older than the
// satellite's own idle timeout. One indexed query finds candidates; leases are checked in one
// Redis pipeline; each sleeper is then an ordinary awake→stopping request (the sleep job
// re-checks leases right before stopping).
import { requestSleep } from "@satellites/lifecycle";
import { withLiveLeases } from "@satellites/queue";
import type { JobsContext } from "../context.ts";

/** Shortest idle timeout allowed; lets the query use the (state, lastActivityAt) index. */
const MIN_IDLE_SECONDS = 60;
const BATCH = 500;

export interface IdleScanResult {
  candidates: number;
  leased: number;
  stopping: number;
}

export async function findIdle(ctx: Pick<JobsContext, "db">, limit = BATCH): Promise<string[]> {
  const rows = await ctx.db.$queryRaw<{ id: string }[]>`
    SELECT id FROM satellite
    WHERE state = 'awake'
      AND ("lastActivityAt" IS NULL OR "lastActivityAt" < now() - make_interval(secs => ${MIN_IDLE_SECONDS}))
      AND COALESCE("lastActivityAt", "stateChangedAt") < now() - make_interval(secs => "idleTimeoutSeconds")
    ORDER BY "lastActivityAt" ASC NULLS FIRST
    LIMIT ${limit}`;
  return rows.map((r) => r.id);
}

export async function idleScan(ctx: JobsContext): Promise<IdleScanResult> {
  const end = ctx.metrics.idleScanSeconds.startTimer();
  const ids = await findIdle(ctx);
  const leased = await withLiveLeases(ctx.redis, ids);
  const sleepers = ids.filter((id) => !leased.has(id));
  const rows = sleepers.length ? await ctx.db.satellite.findMany({ where: { id: { in: sleepers }, state: "awake" } }) : [];
  let stopping = 0;
  for (const sat of rows) {
    const idleSeconds = Math.round((Date.now() - (sat.lastActivityAt ?? sat.stateChangedAt).getTime()) / 1000);
    const r = await requestSleep(ctx.db, ctx.queues, sat, { cause: "idle", actor: "system", detail: { idleSeconds, idleTimeoutSeconds: sat.idleTimeoutSeconds } });
    if (r.kind === "stopping") stopping++;
  }
  end();
  if (stopping) ctx.log.info({ candidates: ids.length, leased: leased.size, stopping }, "idle scan");
  return { candidates: ids.length, leased: leased.size, stopping };
}
