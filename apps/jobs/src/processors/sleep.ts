// stopping → asleep. Leases are re-checked right before the provider call: a stream that
// appeared since the idle decision sends the satellite back to awake (a build is never cut).
// A wake requested while stopping runs as soon as asleep is reached; a resize asked for with the
// stop (forced resize of an awake satellite) goes on to updating in the same transaction.
import { finishSleep, pendingResize } from "@satellites/lifecycle";
import { enqueue, liveLeases, type SatelliteJob } from "@satellites/queue";
import { enteringEvent, transition } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { failOrRetry } from "../failure.ts";

export async function processSleep(ctx: JobsContext, job: Job<SatelliteJob>): Promise<string> {
  const { satelliteId } = job.data;
  const sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state !== "stopping") return `skipped: ${sat?.state ?? "missing"}`;
  const began = Date.now();
  try {
    // The event that began this stop says why we are sleeping (idle, manual, schedule…) and
    // whether a resize is to follow.
    const began_ = await enteringEvent(ctx.db, satelliteId, "stopping");
    const resize = pendingResize(began_);
    const leases = await liveLeases(ctx.redis, satelliteId);
    if (leases > 0) {
      const r = await transition(ctx.db, {
        satellite: sat,
        to: "awake",
        cause: "request",
        actor: "system",
        set: { lastActivityAt: new Date() },
        detail: {
          reason: "a build stream opened before the machine was stopped",
          leases,
          // A forced resize never cuts a build either: it is dropped, and says so in the history.
          ...(resize ? { resizeCancelled: `${resize.size}/${resize.platform}` } : {}),
        },
      });
      return r.won ? "kept awake: active stream" : "skipped: lost race";
    }
    // Memory kept for a resize would be thrown away (EC2 cannot retype a hibernated instance).
    const hibernate = sat.hibernate && !resize;
    if (sat.instanceId) await ctx.provider.stop(sat.instanceId, { hibernate });
    const { asleep: r, resizing } = await finishSleep(ctx.db, ctx.queues, sat, {
      cause: began_?.cause ?? "idle",
      actor: began_?.actor ?? "system",
      set: { upstream: null },
      detail: { hibernated: hibernate },
      began: began_,
    });
    ctx.metrics.transitionSeconds.observe({ kind: "sleep", provider: ctx.provider.name }, (Date.now() - began) / 1000);
    if (!r.won) return "skipped: lost race";
    // A wake asked for meanwhile stays recorded; the resize job honours it once done.
    if (resizing) return "asleep, resizing";
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
