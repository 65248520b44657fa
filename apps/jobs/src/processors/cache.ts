// A satellite's BuildKit cache: measured (Control/DiskUsage) on request and before each sleep,
// reset (Control/Prune --all) on an admin's request. Only an awake satellite is asked, over the
// mutual-TLS hop. A reset is refused while a build runs (the proxies' records say so; checked
// again here, since one may have started after the dashboard asked), and is recorded in the
// history (awake → awake, cause manual, with the sizes before and after, or the error).
import { BuildkitError, diskUsage, pruneAll, type CacheUsage } from "@satellites/backend/buildkit-cache";
import type { Satellite } from "@satellites/db";
import type { CacheJob } from "@satellites/queue";
import { announce, noteEvent, runningBuilds } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { forTenant } from "../failure.ts";
import { hopProbe } from "../health.ts";

const MEASURE_TIMEOUT_MS = 10_000;
/** Pruning a large cache deletes many snapshots: it may take a while. */
const PRUNE_TIMEOUT_MS = 600_000;

/** Measures and stores the cache size; throws what BuildKit answered. */
export async function measureCache(ctx: Pick<JobsContext, "db" | "hopCredentials">, sat: Pick<Satellite, "id" | "upstream">, timeoutMs = MEASURE_TIMEOUT_MS): Promise<CacheUsage> {
  const usage = await diskUsage(sat.upstream!, { timeoutMs, ...hopProbe(ctx, sat.id) });
  await ctx.db.satellite.update({ where: { id: sat.id }, data: { cacheBytes: BigInt(usage.bytes), cacheEntries: usage.entries, cacheMeasuredAt: new Date() } });
  return usage;
}

/**
 * A measurement (asked for, or the jobs process's own after builds) that was not stored, and why:
 * a dashboard waiting for the one it asked for shows it.
 */
async function measureFailed(ctx: JobsContext, sat: Satellite, why: string): Promise<void> {
  await ctx.db.satellite.update({ where: { id: sat.id }, data: { cacheMeasureFailedAt: new Date(), cacheMeasureError: forTenant(why).slice(0, 500) } });
  await announceCache(ctx, sat);
}

function reason(err: unknown): string {
  if (err instanceof BuildkitError && err.unsupported) return "the satellite's daemon has no BuildKit cache to manage (it is not BuildKit, or older than v0.13)";
  return err instanceof Error ? err.message : String(err);
}

export async function processCache(ctx: JobsContext, job: Job<CacheJob>): Promise<string> {
  const { satelliteId, action, actor } = job.data;
  const sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state !== "awake" || !sat.upstream) {
    if (sat && action === "reset") await recordReset(ctx, sat, actor, Date.now(), { error: `not reset: the satellite is ${sat.state}, not awake` });
    if (sat && action === "measure") await measureFailed(ctx, sat, `not measured: the satellite is ${sat.state}, not awake`);
    return `skipped: ${sat?.state ?? "missing"}`;
  }
  if (action === "measure") {
    let usage: CacheUsage;
    try {
      usage = await measureCache(ctx, sat);
    } catch (err) {
      await measureFailed(ctx, sat, reason(err));
      throw err;
    }
    await announceCache(ctx, sat);
    return `measured: ${usage.bytes} bytes in ${usage.entries} entries`;
  }
  const began = Date.now();
  const running = await runningBuilds(ctx.db, sat.id);
  if (running > 0) {
    await recordReset(ctx, sat, actor, began, { error: `not reset: ${running} build${running === 1 ? " was" : "s were"} running` });
    return "refused: build running";
  }
  try {
    const before = await diskUsage(sat.upstream, { timeoutMs: MEASURE_TIMEOUT_MS, ...hopProbe(ctx, sat.id) });
    const pruned = await pruneAll(sat.upstream, { timeoutMs: PRUNE_TIMEOUT_MS, ...hopProbe(ctx, sat.id) });
    const after = await measureCache(ctx, sat);
    await recordReset(ctx, sat, actor, began, { detail: { beforeBytes: before.bytes, afterBytes: after.bytes, freedBytes: pruned.freedBytes, removed: pruned.removed, keptInUse: after.inUse } });
    return `reset: ${before.bytes} → ${after.bytes} bytes`;
  } catch (err) {
    await recordReset(ctx, sat, actor, began, { error: `cache reset failed: ${reason(err)}` });
    return `failed: ${reason(err)}`;
  }
}

/** The history event of a reset (done, refused or failed), announced so open pages re-read. */
async function recordReset(ctx: Pick<JobsContext, "db">, sat: Satellite, actor: string, began: number, outcome: { error?: string; detail?: Record<string, number> }): Promise<void> {
  const now = new Date();
  await ctx.db.$transaction((tx) =>
    noteEvent(tx, sat, { cause: "manual", actor, startedAt: new Date(began), finishedAt: now, durationMs: now.getTime() - began, error: outcome.error ?? null, detail: { cache: "reset", ...outcome.detail } }),
  );
}

/** A measurement is no state change, but pages showing the satellite re-read it. */
async function announceCache(ctx: Pick<JobsContext, "db">, sat: Satellite): Promise<void> {
  await ctx.db.$transaction(async (tx) => announce(tx, { id: sat.id, orgId: sat.orgId, from: sat.state, to: sat.state, version: sat.version, cause: "manual", at: new Date().toISOString(), upstream: sat.upstream }));
}
