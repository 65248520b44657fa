// starting → awake. Limits saved while the machine could not take them go with the start
// (EC2 accepts user-data only while stopped); any saved while it starts are applied once awake.
// Only a passing health check makes it awake.
import { limitsOf } from "@satellites/catalog";
import type { ProbeResult } from "@satellites/backend/probe";
import type { SatelliteJob } from "@satellites/queue";
import { announceAddress, enteringEvent, transition } from "@satellites/state";
import type { Job } from "bullmq";
import type { JobsContext } from "../context.ts";
import { failOrRetry } from "../failure.ts";
import { answeredEarly, requireStarted } from "../health.ts";
import { applyLimitsLeftBehind } from "./apply-limits.ts";

export async function processWake(ctx: JobsContext, job: Job<SatelliteJob>): Promise<string> {
  const { satelliteId } = job.data;
  const sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state !== "starting") return `skipped: ${sat?.state ?? "missing"}`;
  const began = Date.now();
  // The wake completes for the reason it began (a build request, a person, a schedule). Read
  // while the machine starts: between a passing probe and the commit there is only the commit,
  // because every held call waits on it.
  const entered = enteringEvent(ctx.db, satelliteId, "starting");
  entered.catch(() => {}); // awaited below; a failure surfaces there
  try {
    if (!sat.instanceId) throw new Error("satellite has no instance; delete and recreate it");
    // Limits the provider refused for good are not tried again here: the same refusal would fail
    // the wake too. A new save of limits tries them (apply-limits.ts, limitsRefused).
    const pending = sat.limitsPending && sat.limitsFailedVersion !== sat.limitsVersion;
    // A channel this worker held open to the daemon as it went to sleep: the check is sent on
    // it right before the thaw, and answered the moment the daemon runs again.
    const held = ctx.heldProbes.take(sat.id);
    const early: { check?: Promise<ProbeResult> } = {};
    const info = await ctx.provider
      .start(sat.instanceId, {
        ...(pending ? { pendingLimits: limitsOf(sat) } : {}),
        onResume: (upstream) => {
          if (held?.address === upstream) early.check = held.check(2_000);
          // Proxies holding calls for this wake connect now too (not awaited: a lost hint only
          // costs them that head start, never the wake); the thawed daemon answers them at once.
          announceAddress(ctx.db, { id: sat.id, upstream }).catch(() => {});
        },
      })
      .finally(() => {
        // Closed once its check is answered, or now when the start did not resume the daemon.
        void Promise.resolve(early.check).finally(() => held?.close());
      });
    if (!info.upstream) throw new Error("provider reported no address for a running instance");
    // Where a woken daemon may still run its previous files (EC2), it must carry the label of
    // the limits it should run with: those saved, once on the machine (already, or by this start).
    const current = !sat.limitsPending || (pending && info.pendingLimitsWritten !== false);
    const label = current ? ctx.provider.readyLabel?.(limitsOf(sat), sat.size) : undefined;
    if (label || !(early.check && info.resumed && (await answeredEarly(early.check)))) await requireStarted(ctx, sat.id, info.instanceId, info.upstream, label);
    const r = await transition(ctx.db, {
      satellite: sat,
      to: "awake",
      cause: (await entered)?.cause ?? "request",
      actor: "system",
      set: { upstream: info.upstream, lastActivityAt: new Date() },
      // Pending limits were applied by this start unless they changed again meanwhile (decided
      // in the same statement, so no read between the probe and the commit) — or the machine
      // was running already (an earlier attempt started it), when they are still to apply.
      ...(pending ? { limitsApplied: info.pendingLimitsWritten === false ? sat.limitsAppliedVersion : sat.limitsVersion } : {}),
      detail: pending ? { limitsApplied: info.pendingLimitsWritten !== false } : undefined,
    });
    ctx.metrics.transitionSeconds.observe({ kind: "wake", provider: ctx.provider.name }, (Date.now() - began) / 1000);
    if (!r.won) return "skipped: lost race";
    return (await applyLimitsLeftBehind(ctx, r.satellite, "woken")) ? "awake, newer limits pending" : "awake";
  } catch (err) {
    return failOrRetry(ctx, job, satelliteId, "starting", err);
  }
}
