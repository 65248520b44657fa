// deleting → deleted: terminate the instance; the row stays (hidden) for its history, and the
// name becomes free for a new satellite.
import type { SatelliteJob } from "@satellites/queue";
import { transition } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { failOrRetry } from "../failure.ts";

export async function processDelete(ctx: JobsContext, job: Job<SatelliteJob>): Promise<string> {
  const { satelliteId } = job.data;
  const sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state !== "deleting") return `skipped: ${sat?.state ?? "missing"}`;
  const began = Date.now();
  try {
    ctx.heldProbes.drop(sat.id);
    if (sat.instanceId) await ctx.provider.terminate(sat.instanceId);
    const r = await transition(ctx.db, {
      satellite: sat,
      to: "deleted",
      cause: "delete",
      actor: "system",
      set: { upstream: null, liveName: null, deletedAt: new Date() },
    });
    ctx.metrics.transitionSeconds.observe({ kind: "delete", provider: ctx.provider.name }, (Date.now() - began) / 1000);
    return r.won ? "deleted" : "skipped: lost race";
  } catch (err) {
    return failOrRetry(ctx, job, satelliteId, "deleting", err);
  }
}
