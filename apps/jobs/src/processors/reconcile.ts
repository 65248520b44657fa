// The reconciler compares Postgres with the provider. It finishes or fails transitions left
// half-done (a worker killed between the provider call and the state write, a job that was
// never enqueued) and repairs drift (an instance stopped, started or terminated outside the
// product). Every repair is a history event with cause `reconcile`. Each pass also runs the
// provider's own upkeep (the local provider rotates satellites' logs).
import { waitHealthy } from "@satellites/backend/probe";
import type { Satellite } from "@satellites/db";
import { enqueue, jobIdFor, type SatelliteJobKind } from "@satellites/queue";
import { finishSleep } from "@satellites/lifecycle";
import type { InstanceInfo } from "@satellites/provider";
import { type State, transition } from "@satellites/state";
import type { JobsContext } from "../context.ts";

const JOB_FOR: Partial<Record<State, SatelliteJobKind>> = { creating: "launch", starting: "wake", stopping: "sleep", updating: "resize", deleting: "delete" };
const LIVE_JOB_STATES = new Set(["active", "waiting", "delayed", "prioritized", "waiting-children"]);

export interface ReconcileOptions {
  /** A transition younger than this is left alone: its job is probably just starting. */
  graceMs: number;
  healthTimeoutMs: number;
}

export async function reconcile(ctx: JobsContext, opts: ReconcileOptions): Promise<string[]> {
  const repairs: string[] = [];
  const note = (sat: Satellite, what: string) => {
    repairs.push(`${sat.id}: ${what}`);
    ctx.metrics.repairs.inc({ kind: what.split(":")[0]! });
    ctx.log.info({ satelliteId: sat.id, orgId: sat.orgId, repair: what }, "reconciled");
  };
  const sats = await ctx.db.satellite.findMany({ where: { state: { notIn: ["deleted"] } } });
  // The whole fleet described at once (EC2: a call per 200 instances, not one per satellite, so
  // the pass does not eat the describe budget that wakes poll with).
  let infos = new Map<string, InstanceInfo>();
  try {
    infos = await ctx.provider.describeMany(sats.flatMap((s) => (s.instanceId ? [s.instanceId] : [])));
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, "describing the fleet failed; describing satellites one by one");
  }
  for (const sat of sats) {
    try {
      await reconcileOne(ctx, sat, opts, (what) => note(sat, what), infos);
    } catch (err) {
      ctx.log.warn({ satelliteId: sat.id, err: (err as Error).message }, "reconcile failed for satellite");
    }
  }
  try {
    for (const done of (await ctx.provider.housekeeping?.()) ?? []) ctx.log.info({ housekeeping: done }, "provider housekeeping");
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, "provider housekeeping failed");
  }
  return repairs;
}

async function reconcileOne(ctx: JobsContext, sat: Satellite, opts: ReconcileOptions, note: (what: string) => void, infos: Map<string, InstanceInfo>): Promise<void> {
  const kind = JOB_FOR[sat.state];
  if (kind) {
    if (Date.now() - sat.stateChangedAt.getTime() < opts.graceMs) return;
    const job = await ctx.queues[kind].getJob(jobIdFor(kind, { satelliteId: sat.id, version: sat.version }));
    // A live (or stalled, which BullMQ re-runs itself) job is still in charge.
    if (job && LIVE_JOB_STATES.has(await job.getState())) return;
  }
  const info = sat.instanceId ? (infos.get(sat.instanceId) ?? (await ctx.provider.describe(sat.instanceId))) : null;
  const up = async () => Boolean(info?.upstream) && info!.state === "running" && (await waitHealthy(info!.upstream!, { totalMs: opts.healthTimeoutMs }));
  const to = async (state: State, what: string, set: Parameters<typeof transition>[1]["set"] = {}, error?: string) => {
    const r = await transition(ctx.db, { satellite: sat, to: state, cause: "reconcile", actor: "system", set, detail: { repair: what, instance: info?.state ?? "none" }, ...(error ? { error } : {}) });
    if (r.won) note(`${state}: ${what}`);
    return r;
  };
  const requeue = async (k: SatelliteJobKind) => {
    await ctx.queues[k].remove(jobIdFor(k, { satelliteId: sat.id, version: sat.version }));
    await enqueue(ctx.queues, k, { satelliteId: sat.id, version: sat.version });
    note(`requeue: ${k}`);
  };
  const gone = !info || info.state === "missing" || info.state === "terminated";
  const sleeping = info?.state === "stopped" || info?.state === "hibernated";

  switch (sat.state) {
    case "creating":
      if (sat.instanceId && (await up())) await to("awake", "instance is running and healthy", { upstream: info!.upstream, lastActivityAt: new Date() });
      else await requeue("launch");
      return;
    case "starting":
      if (await up()) await to("awake", "instance is running and healthy", { upstream: info!.upstream, lastActivityAt: new Date(), limitsPending: false });
      else if (gone) await to("failed", "instance is gone", { failureReason: "instance no longer exists" }, "instance no longer exists");
      else await requeue("wake");
      return;
    case "stopping":
      if (sleeping) {
        // A resize asked for with this stop follows in the same transaction (and is noted).
        const { asleep: r, resizing } = await finishSleep(ctx.db, ctx.queues, sat, {
          cause: "reconcile",
          actor: "system",
          set: { upstream: null },
          detail: { repair: "instance is stopped", instance: info?.state ?? "none" },
        });
        if (r.won) note("asleep: instance is stopped");
        if (resizing) note("requeue: resize");
        else if (r.won && r.satellite.wakeRequested) {
          const w = await transition(ctx.db, { satellite: r.satellite, to: "starting", cause: "reconcile", actor: "system", set: { wakeRequested: false } });
          if (w.won) await enqueue(ctx.queues, "wake", { satelliteId: sat.id, version: w.satellite.version });
        }
      } else if (gone) await to("failed", "instance is gone", { failureReason: "instance no longer exists" }, "instance no longer exists");
      else await requeue("sleep");
      return;
    case "deleting":
      await requeue("delete");
      return;
    case "updating":
      // Only the provider knows how far the change got; the resize job is idempotent, so the
      // repair is to run it again (an instance gone for good makes it fail the satellite).
      await requeue("resize");
      return;
    case "awake":
      if (sleeping) await to("asleep", "instance was stopped outside the product", { upstream: null });
      else if (gone) await to("failed", "instance disappeared", { failureReason: "instance was terminated outside the product" }, "instance was terminated outside the product");
      else if (info?.state === "running" && info.upstream && info.upstream !== sat.upstream) {
        await ctx.db.satellite.updateMany({ where: { id: sat.id, version: sat.version }, data: { upstream: info.upstream } });
        note("upstream: address changed");
      }
      return;
    case "asleep":
      if (gone && sat.instanceId) await to("failed", "instance disappeared", { failureReason: "instance was terminated outside the product" }, "instance was terminated outside the product");
      else if (info?.state === "running" && (await up())) await to("awake", "instance was started outside the product", { upstream: info.upstream, lastActivityAt: new Date() });
      return;
    case "failed":
      if (!sat.instanceId) return;
      if (sleeping) await to("asleep", "instance is stopped and intact", { failureReason: null, upstream: null });
      else if (await up()) await to("awake", "instance recovered", { failureReason: null, upstream: info!.upstream, lastActivityAt: new Date() });
      return;
    default:
      return;
  }
}
