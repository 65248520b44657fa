// stopping → asleep. Leases are re-checked right before the provider call: a call open on any
// proxy replica sends the satellite back to awake (a build is never cut). A lease that only
// lingers after the last call (the proxy keeps it a few seconds) is waited out, bounded — a
// sleep asked for right after a build then happens, unless a call really arrives meanwhile.
// Once the stop was issued, a re-run of this job (a retry, a stalled job) only finishes it.
// A wake requested while stopping runs as soon as asleep is reached; a resize asked for with
// the stop (forced resize of an awake satellite) goes on to updating in the same transaction.
import { finishSleep, pendingResize } from "@satellites/lifecycle";
import { enqueue, LEASE_TTL_MS, liveLeases, liveStreams, type SatelliteJob } from "@satellites/queue";
import type { Satellite } from "@satellites/db";
import { enteringEvent, transition } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { failOrRetry } from "../failure.ts";

/** Job data written once the provider stop was issued. */
interface SleepProgress extends SatelliteJob {
  stopIssued?: boolean;
}

const LINGER_POLL_MS = 200;

export async function processSleep(ctx: JobsContext, job: Job<SleepProgress>): Promise<string> {
  const { satelliteId } = job.data;
  const sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state !== "stopping") return `skipped: ${sat?.state ?? "missing"}`;
  const began = Date.now();
  try {
    // The event that began this stop says why we are sleeping (idle, manual, schedule…) and
    // whether a resize is to follow.
    const began_ = await enteringEvent(ctx.db, satelliteId, "stopping");
    const resize = pendingResize(began_);
    if (!job.data.stopIssued && !(await stopAlreadyUnderWay(ctx, sat))) {
      const kept = await callStillOpen(ctx, sat);
      if (kept) {
        const r = await transition(ctx.db, {
          satellite: sat,
          to: "awake",
          cause: "request",
          actor: "system",
          set: { lastActivityAt: new Date() },
          detail: {
            reason: kept,
            // A forced resize never cuts a build either: it is dropped, and says so in the history.
            ...(resize ? { resizeCancelled: `${resize.size}/${resize.platform}` } : {}),
          },
        });
        return r.won ? "kept awake: active stream" : "skipped: lost race";
      }
      await job.updateData({ ...job.data, stopIssued: true });
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

/**
 * Why the satellite must stay awake, or null to go on with the stop. A call open on any
 * replica keeps it; a lease that only lingers is waited out (at most one lease lifetime);
 * a call arriving meanwhile (its lease, or a wake it asked for) keeps it.
 */
async function callStillOpen(ctx: JobsContext, sat: Satellite): Promise<string | null> {
  const deadline = Date.now() + LEASE_TTL_MS + 1_000;
  for (;;) {
    if ((await liveStreams(ctx.redis, sat.id)) > 0) return "a build call was open when the machine was to be stopped";
    if ((await liveLeases(ctx.redis, sat.id)) === 0) return null;
    const now = await ctx.db.satellite.findUnique({ where: { id: sat.id }, select: { wakeRequested: true } });
    if (now?.wakeRequested) return "a build call arrived while the machine was stopping";
    if (Date.now() >= deadline) return "a proxy kept its lease on the satellite";
    await new Promise((r) => setTimeout(r, LINGER_POLL_MS));
  }
}

/** An earlier run of this sleep got as far as the provider stop (its data was lost with a requeue). */
async function stopAlreadyUnderWay(ctx: JobsContext, sat: Satellite): Promise<boolean> {
  if (!sat.instanceId) return false;
  const info = await ctx.provider.describe(sat.instanceId);
  return info.state === "stopping" || info.state === "stopped" || info.state === "hibernated";
}
