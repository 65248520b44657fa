// stopping → asleep. Leases are re-checked right before the provider call: a stream that
// appeared since the idle decision sends the satellite back to awake (a build is never cut).
// A wake requested while stopping runs as soon as asleep is reached.
import { enqueue, liveLeases, type SatelliteJob } from "@satellites/queue";
import { transition } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { failOrRetry } from "../failure.ts";

export async function processSleep(ctx: JobsContext, job: Job<SatelliteJob>): Promise<string> {
  const { satelliteId } = job.data;
  const sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state !== "stopping") return `skipped: ${sat?.state ?? "missing"}`;
  const began = Date.now();
  try {
    const leases = await liveLeases(ctx.redis, satelliteId);
    if (leases > 0) {
      const r = await transition(ctx.db, {
        satellite: sat,
        to: "awake",
        cause: "request",
        actor: "system",
        set: { lastActivityAt: new Date() },
        detail: { reason: "a build stream opened before the machine was stopped", leases },
      });
      return r.won ? "kept awake: active stream" : "skipped: lost race";
    }
    // The event that began this stop says why we are sleeping (idle, manual, schedule…).
    const began_ = await ctx.db.satelliteEvent.findFirst({ where: { satelliteId, to: "stopping" }, orderBy: { id: "desc" }, select: { cause: true, actor: true } });
    if (sat.instanceId) await ctx.provider.stop(sat.instanceId, { hibernate: sat.hibernate });
    const r = await transition(ctx.db, {
      satellite: sat,
      to: "asleep",
      cause: began_?.cause ?? "idle",
      actor: began_?.actor ?? "system",
      set: { upstream: null },
      detail: { hibernated: sat.hibernate },
    });
    ctx.metrics.transitionSeconds.observe({ kind: "sleep", provider: ctx.provider.name }, (Date.now() - began) / 1000);
    if (!r.won) return "skipped: lost race";
    // wakeRequested was read in the same transaction that reached asleep: a concurrent
    // requester either set it before (seen here) or found asleep and woke it itself.
    if (r.satellite.wakeRequested) {
      const w = await transition(ctx.db, { satellite: r.satellite, to: "starting", cause: "request", actor: "system", set: { wakeRequested: false }, detail: { reason: "requested while stopping" } });
      if (w.won) await enqueue(ctx.queues, "wake", { satelliteId, version: w.satellite.version });
      return "asleep, waking (requested while stopping)";
    }
    return "asleep";
  } catch (err) {
    return failOrRetry(ctx, job, satelliteId, "stopping", err);
  }
}
