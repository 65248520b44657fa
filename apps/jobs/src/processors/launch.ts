// creating → awake: launch the instance, wait for the provider's running, then for a real
// health check. The instance id is recorded the moment the provider knows it (EC2: right after
// RunInstances), so a delete or a crash meanwhile can never leak it, and a duplicate job (BullMQ
// re-runs stalled jobs) that meets the same instance shares it instead of terminating it.
import type { SatelliteJob } from "@satellites/queue";
import { transition } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { failOrRetry } from "../failure.ts";
import { requireStarted } from "../health.ts";
import { launchSpec } from "../spec.ts";
import { applyLimitsLeftBehind } from "./apply-limits.ts";

/** The launched instance is not this satellite's (deleted meanwhile, or another recorded). */
class NotOurs extends Error {}

export async function processLaunch(ctx: JobsContext, job: Job<SatelliteJob>): Promise<string> {
  const { satelliteId } = job.data;
  let sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state !== "creating") return `skipped: ${sat?.state ?? "missing"}`;
  const began = Date.now();
  try {
    if (!sat.instanceId) {
      const limitsVersion = sat.limitsVersion;
      let launchedId: string | undefined;
      try {
        const launched = await ctx.provider.launch(launchSpec(sat), {
          onInstance: async (instanceId, adopted) => {
            launchedId = instanceId;
            // An adopted instance runs limits of some earlier attempt: unknown, so pending.
            await recordInstance(ctx, satelliteId, instanceId, adopted ? null : limitsVersion);
          },
        });
        await ctx.db.satellite.updateMany({ where: { id: satelliteId, instanceId: launched.instanceId }, data: { hibernate: launched.hibernate, limitsEnforced: launched.limitsEnforced, limitsOomScoreEnforced: launched.oomScoreEnforced } });
      } catch (err) {
        if (!(err instanceof NotOurs) || !launchedId) throw err;
        // Only an instance the row does not name is ours to clean up.
        await ctx.provider.terminate(launchedId);
        return "skipped: satellite changed during launch";
      }
      sat = await ctx.db.satellite.findUniqueOrThrow({ where: { id: sat.id } });
      if (sat.state !== "creating") return `skipped: ${sat.state}`;
    }
    const info = await ctx.provider.start(sat.instanceId!);
    if (!info.upstream) throw new Error("provider reported no address for a running instance");
    await requireStarted(ctx, sat.id, info.instanceId, info.upstream);
    const r = await transition(ctx.db, {
      satellite: sat,
      to: "awake",
      cause: "launch",
      actor: "system",
      set: { upstream: info.upstream, lastActivityAt: new Date() },
      // Limits saved while the machine was being built stay pending, and are applied next.
      limitsApplied: sat.limitsAppliedVersion,
      detail: { instanceId: sat.instanceId! },
    });
    ctx.metrics.transitionSeconds.observe({ kind: "launch", provider: ctx.provider.name }, (Date.now() - began) / 1000);
    if (!r.won) return "skipped: lost race";
    return (await applyLimitsLeftBehind(ctx, r.satellite, "launched")) ? "awake, newer limits pending" : "awake";
  } catch (err) {
    return failOrRetry(ctx, job, satelliteId, "creating", err);
  }
}

/** Writes the instance id (and the limits version it was given) unless the row names another. */
async function recordInstance(ctx: JobsContext, satelliteId: string, instanceId: string, limitsVersion: number | null): Promise<void> {
  const { count } = await ctx.db.satellite.updateMany({
    where: { id: satelliteId, state: "creating", instanceId: null },
    data: { instanceId, limitsAppliedVersion: limitsVersion },
  });
  if (count === 1) return;
  const now = await ctx.db.satellite.findUnique({ where: { id: satelliteId }, select: { instanceId: true } });
  // A twin job recorded this very instance first: it is the satellite's, carry on.
  if (now?.instanceId === instanceId) return;
  throw new NotOurs(`instance ${instanceId} is not satellite ${satelliteId}'s`);
}
