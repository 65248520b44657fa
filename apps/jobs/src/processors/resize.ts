// updating → asleep: the provider gives the sleeping instance its new size and/or platform
// (EC2: a new instance type, or a new instance for another architecture) with the limits
// rendered for it. Safe to re-run: the provider call is idempotent (a replacement instance is
// found again by its launch token), and the new instance id is written with the transition.
import { hibernatable, PLATFORMS, SIZES, type PlatformName, type SizeName } from "@satellites/catalog";
import type { Prisma } from "@satellites/db";
import { PermanentProviderError } from "@satellites/provider";
import { enqueue, type SatelliteJob } from "@satellites/queue";
import { enteringEvent, type SatellitePatch, transition } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { failOrRetry, givesUp } from "../failure.ts";
import { launchSpec } from "../spec.ts";
import { stillIn } from "../still-wanted.ts";

export async function processResize(ctx: JobsContext, job: Job<SatelliteJob>): Promise<string> {
  const { satelliteId } = job.data;
  const sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state !== "updating") return `skipped: ${sat?.state ?? "missing"}`;
  const began = Date.now();
  // The event that began the change says who asked for it, and what the satellite was before.
  const asked = await enteringEvent(ctx.db, satelliteId, "updating");
  // Hibernation follows the (possibly new) platform, as at creation; the provider has the last word.
  const spec = { ...launchSpec(sat), hibernate: hibernatable(sat.platform as PlatformName) };
  try {
    if (!sat.instanceId) throw new Error("satellite has no instance; delete and recreate it");
    // A copy of this job that lost its lock may find the resize done by its twin and the
    // satellite woken since: the provider asks before it stops a machine it finds running.
    const done = await ctx.provider.resize(sat.instanceId, spec, { stillWanted: stillIn(ctx, sat, "updating") });
    const replaced = done.instanceId !== sat.instanceId;
    const r = await transition(ctx.db, {
      satellite: sat,
      to: "asleep",
      cause: asked?.cause ?? "manual",
      actor: asked?.actor ?? "system",
      set: {
        instanceId: done.instanceId,
        hibernate: done.hibernate,
        limitsEnforced: done.limitsEnforced,
        limitsOomScoreEnforced: done.oomScoreEnforced,
        upstream: null,
      },
      // The limits went with the resize unless they changed again meanwhile (then still
      // pending) — decided in the transition's own statement.
      limitsApplied: sat.limitsVersion,
      detail: { size: sat.size, platform: sat.platform, instanceId: done.instanceId, ...(replaced ? { replacedInstanceId: sat.instanceId } : {}) },
    });
    ctx.metrics.transitionSeconds.observe({ kind: "resize", provider: ctx.provider.name }, (Date.now() - began) / 1000);
    if (!r.won) {
      // The old instance is gone: the row must never keep pointing at it.
      if (replaced) await ctx.db.satellite.updateMany({ where: { id: satelliteId, instanceId: sat.instanceId }, data: { instanceId: done.instanceId } });
      return "skipped: lost race";
    }
    // A wake asked for while updating runs as soon as asleep is reached (as after a stop).
    if (r.satellite.wakeRequested) {
      const w = await transition(ctx.db, { satellite: r.satellite, to: "starting", cause: "request", actor: "system", set: { wakeRequested: false }, detail: { reason: "requested while updating" } });
      if (w.won) await enqueue(ctx.queues, "wake", { satelliteId, version: w.satellite.version });
      return "resized, waking (requested while updating)";
    }
    return replaced ? "resized: new instance" : "resized";
  } catch (err) {
    if (err instanceof PermanentProviderError && err.code === "Superseded") return `skipped: ${err.message}`;
    // Given up: the machine keeps (as far as the provider got) its old size, so the row says so
    // too — the reconciler then returns a stopped, intact instance to asleep as it was.
    let undo = previousOf(asked?.detail);
    if (sat.instanceId && givesUp(job, err)) {
      try {
        const left = await ctx.provider.abandonResize(sat.instanceId, spec);
        if (left.terminated) ctx.log.info({ instanceId: left.terminated }, "resize given up: its replacement instance terminated");
        // The old machine is gone already: the replacement is the satellite now, at the new size.
        if (left.kept) undo = { instanceId: left.kept };
      } catch (cleanup) {
        ctx.log.error({ err: cleanup instanceof Error ? cleanup.message : String(cleanup) }, "resize given up; a replacement instance it launched may be left running");
      }
    }
    return failOrRetry(ctx, job, satelliteId, "updating", err, undo);
  }
}

/** Size, platform and memory limit before the change, from the detail of the event that began it. */
function previousOf(detail: Prisma.JsonValue | undefined): SatellitePatch | undefined {
  if (!detail || typeof detail !== "object" || Array.isArray(detail)) return undefined;
  const from = (key: string) => {
    const v = detail[key];
    return v && typeof v === "object" && !Array.isArray(v) ? v.from : undefined;
  };
  const size = from("size");
  const platform = from("platform");
  const memory = from("memoryMiB");
  if (!SIZES.includes(size as SizeName) || !PLATFORMS.includes(platform as PlatformName)) return undefined;
  return { size: size as SizeName, platform: platform as PlatformName, ...(typeof memory === "number" ? { limitMemoryMiB: memory } : {}) };
}
