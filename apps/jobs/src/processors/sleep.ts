// stopping → asleep. Leases are re-checked right before the provider call: a call open on any
// proxy replica sends the satellite back to awake (a build is never cut). A lease that only
// lingers after the last call (the proxy keeps it a few seconds) is waited out, bounded — a
// sleep asked for right after a build then happens, unless a call really arrives meanwhile.
// The stop is recorded as issued in Postgres before the provider call (markStopIssued): from
// then on a re-run (a retry, or BullMQ's re-run of a stalled job beside its live first copy)
// only finishes it, and no copy can send the satellite back to awake.
// A wake requested while stopping runs as soon as asleep is reached; a resize asked for with
// the stop (forced resize of an awake satellite) goes on to updating in the same transaction.
import { setTimeout as sleep } from "node:timers/promises";
import { finishSleep, pendingResize } from "@satellites/lifecycle";
import { enqueue, LEASE_TTL_MS, liveLeases, liveStreams, type SatelliteJob, STREAM_OPEN_CONFIRM_MS, STREAM_SETTLE_MS } from "@satellites/queue";
import type { Satellite } from "@satellites/db";
import { enteringEvent, markStopIssued, transition } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { failOrRetry } from "../failure.ts";
import { hopProbe } from "../health.ts";
import { stillIn } from "../still-wanted.ts";
import { measureCache } from "./cache.ts";

const LINGER_POLL_MS = 200;
/** Bounds what measuring the cache may add to a sleep (a daemon without BuildKit answers at once). */
const CACHE_MEASURE_AT_SLEEP_MS = 5_000;

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
    // A re-run finds the daemon stopped already (frozen, it would not answer a held channel's check).
    const issuing = !sat.stopIssuedAt;
    if (issuing) {
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
        // Lost: another copy issued the stop meanwhile (it finishes the sleep), or the state moved.
        return r.won ? "kept awake: active stream" : "skipped: lost race";
      }
      // The cache size as the satellite goes to sleep: what the page shows until it wakes.
      if (sat.upstream) {
        await measureCache(ctx, sat, CACHE_MEASURE_AT_SLEEP_MS).catch((err: unknown) =>
          ctx.log.debug({ err: err instanceof Error ? err.message : String(err) }, "cache not measured before sleep"),
        );
      }
      // The point of no return; lost when another copy sent the satellite back to awake meanwhile.
      if (!(await markStopIssued(ctx.db, sat))) return "skipped: lost race";
    }
    // Memory kept for a resize would be thrown away (EC2 cannot retype a hibernated instance).
    const hibernate = sat.hibernate && !resize;
    // The frozen daemon keeps its connections: one held open now makes the next wake's probe a
    // single call. Only on this host's processes (an EC2 instance's connections do not survive).
    if (issuing && hibernate && sat.upstream && ctx.provider.name === "local") await ctx.heldProbes.hold(sat.id, sat.upstream, hopProbe(ctx, sat.id));
    // A copy of this job that lost its lock may find the sleep finished by its twin and the
    // machine woken since: the provider asks before each stop request.
    if (sat.instanceId) await ctx.provider.stop(sat.instanceId, { hibernate, stillWanted: stillIn(ctx, sat, "stopping") });
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
 * replica (still open after STREAM_OPEN_CONFIRM_MS) keeps it; a lease that only lingers is
 * waited out (at most one lease lifetime); a call arriving meanwhile (its lease, or a wake it
 * asked for) keeps it.
 */
async function callStillOpen(ctx: JobsContext, sat: Satellite): Promise<string | null> {
  const deadline = Date.now() + LEASE_TTL_MS + 1_000;
  let openSince: number | undefined;
  for (;;) {
    if ((await liveStreams(ctx.redis, sat.id)) > 0) {
      // A proxy reports the end of its last call a moment late (STREAM_SETTLE_MS): a call is
      // open only if the lease still says so after STREAM_OPEN_CONFIRM_MS.
      openSince ??= Date.now();
      if (Date.now() - openSince >= STREAM_OPEN_CONFIRM_MS) return "a build call was open when the machine was to be stopped";
      await sleep(STREAM_SETTLE_MS);
      continue;
    }
    openSince = undefined;
    if ((await liveLeases(ctx.redis, sat.id)) === 0) return null;
    const now = await ctx.db.satellite.findUnique({ where: { id: sat.id }, select: { wakeRequested: true } });
    if (now?.wakeRequested) return "a build call arrived while the machine was stopping";
    if (Date.now() >= deadline) return "a proxy kept its lease on the satellite";
    await sleep(LINGER_POLL_MS);
  }
}
