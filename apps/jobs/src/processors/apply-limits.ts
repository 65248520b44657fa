// Enforce saved limits. The local provider changes cgroups live; EC2 takes user-data only on
// a stopped instance, so on an awake one the limits stay pending and the next wake applies
// them. The pending flag is cleared only if no newer change was saved meanwhile.
import { limitsOf, type PlatformName, type SizeName } from "@satellites/catalog";
import type { Satellite } from "@satellites/db";
import { jobIdFor, type SatelliteJob } from "@satellites/queue";
import { noteEvent } from "@satellites/state";
import type { LimitsOutcome } from "@satellites/provider";
import { type Job, UnrecoverableError } from "bullmq";
import type { JobsContext } from "../context.ts";
import { forTenant, givesUp } from "../failure.ts";

export async function processApplyLimits(ctx: JobsContext, job: Job<SatelliteJob>): Promise<string> {
  const sat = await ctx.db.satellite.findUnique({ where: { id: job.data.satelliteId } });
  if (!sat || !sat.limitsPending) return "skipped: nothing pending";
  // Launch renders the current limits itself; transitional states are handled by their job.
  if (!sat.instanceId || !["awake", "asleep"].includes(sat.state)) return `skipped: ${sat.state}`;
  let outcome: LimitsOutcome;
  try {
    outcome = await ctx.provider.applyLimits(sat.instanceId, limitsOf(sat), { platform: sat.platform as PlatformName, size: sat.size as SizeName });
  } catch (err) {
    if (!givesUp(job, err)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    await limitsRefused(ctx, sat, message);
    throw new UnrecoverableError(message);
  }
  if (!outcome.applied) return "pending until next wake";
  // Cleared only if no newer limits were saved meanwhile (their own job applies those).
  const { count } = await ctx.db.satellite.updateMany({
    where: { id: sat.id, limitsVersion: sat.limitsVersion },
    data: { limitsPending: false, limitsEnforced: outcome.enforced, limitsOomScoreEnforced: outcome.oomScoreEnforced, limitsAppliedVersion: sat.limitsVersion },
  });
  return count ? "applied" : "superseded by a newer change";
}

/**
 * Limits the provider will not take (a permanent error, or the last attempt): they stay pending,
 * with why on the row (the dashboard shows it) and in the history, instead of failing in silence.
 */
async function limitsRefused(ctx: JobsContext, sat: Satellite, message: string): Promise<void> {
  const failure = `limits not applied: ${forTenant(message)}`.slice(0, 1000);
  await ctx.db.$transaction(async (tx) => {
    // Only while the satellite is as read: its history row says the state it is in.
    const { count } = await tx.satellite.updateMany({ where: { id: sat.id, version: sat.version, state: sat.state, limitsVersion: sat.limitsVersion, limitsPending: true }, data: { limitsFailure: failure, limitsFailedVersion: sat.limitsVersion } });
    if (count) await noteEvent(tx, sat, { cause: "limits", actor: "system", error: failure, detail: { limitsVersion: sat.limitsVersion } });
  });
  ctx.log.warn({ satelliteId: sat.id, limitsVersion: sat.limitsVersion, err: message }, "limits not applied");
}

/**
 * After a start (launch or wake) reached awake: limits saved while it ran had their own job skip
 * (a transitional state is its job's business) and the start took older ones, so apply them now.
 */
export async function applyLimitsLeftBehind(ctx: JobsContext, sat: Satellite, by: "launched" | "woken"): Promise<boolean> {
  // Refused for good (limitsRefused): tried again when a new save moves limitsVersion.
  if (!sat.limitsPending || sat.state !== "awake" || sat.limitsFailedVersion === sat.limitsVersion) return false;
  const data = { satelliteId: sat.id, version: sat.limitsVersion };
  await ctx.queues.applyLimits.add("applyLimits", data, { jobId: `${jobIdFor("applyLimits", data)}-${by}` });
  return true;
}
