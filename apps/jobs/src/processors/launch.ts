// creating → awake: launch the instance (once: the instance id is saved before anything else
// can fail), wait for the provider's running, then for a real health check.
import type { SatelliteJob } from "@satellites/queue";
import { transition } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { failOrRetry } from "../failure.ts";
import { requireHealthy } from "../health.ts";
import { launchSpec } from "../spec.ts";

export async function processLaunch(ctx: JobsContext, job: Job<SatelliteJob>): Promise<string> {
  const { satelliteId } = job.data;
  let sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state !== "creating") return `skipped: ${sat?.state ?? "missing"}`;
  const began = Date.now();
  try {
    if (!sat.instanceId) {
      const launched = await ctx.provider.launch(launchSpec(sat));
      const { count } = await ctx.db.satellite.updateMany({
        where: { id: sat.id, state: "creating", instanceId: null },
        data: { instanceId: launched.instanceId, hibernate: launched.hibernate, limitsEnforced: launched.limitsEnforced, limitsPending: false },
      });
      if (count === 0) {
        // Deleted (or launched by a twin job) meanwhile: do not leak the instance.
        await ctx.provider.terminate(launched.instanceId);
        return "skipped: satellite changed during launch";
      }
      sat = await ctx.db.satellite.findUniqueOrThrow({ where: { id: sat.id } });
    }
    const info = await ctx.provider.start(sat.instanceId!);
    if (!info.upstream) throw new Error("provider reported no address for a running instance");
    await requireHealthy(info.upstream, ctx.healthTimeoutMs, ctx.healthPoll);
    const r = await transition(ctx.db, {
      satellite: sat,
      to: "awake",
      cause: "launch",
      actor: "system",
      set: { upstream: info.upstream, lastActivityAt: new Date() },
      detail: { instanceId: sat.instanceId! },
    });
    ctx.metrics.transitionSeconds.observe({ kind: "launch", provider: ctx.provider.name }, (Date.now() - began) / 1000);
    return r.won ? "awake" : "skipped: lost race";
  } catch (err) {
    return failOrRetry(ctx, job, satelliteId, "creating", err);
  }
}
