// The reconciler compares Postgres with the provider. It finishes or fails transitions left
// half-done (a worker killed between the provider call and the state write, a job that was
// never enqueued) and repairs drift (an instance stopped, started or terminated outside the
// product, a crashed process). Every repair is a history event with cause `reconcile`.
//
// Incremental: a pass takes every satellite in a transitional state plus, per stable state, a
// bounded batch of those changed since their last check (a transition clears reconciledAt) or
// overdue, oldest check first; probes run with bounded concurrency. Each pass also sweeps
// orphans (instances tagged as ours that no live satellite names) and runs the provider's own
// upkeep (the local provider rotates satellites' logs).
//
// Policy for `failed` (docs/lifecycle.md): a failed satellite stays failed until a person
// retries it (wake) or deletes it; its machine is stopped. The one exception is a size change
// given up with the machine left as it was (failed from `updating`, instance stopped): that
// satellite returns to asleep, as it was before the change.
import { waitHealthy } from "@satellites/backend/probe";
import { hopProbe } from "../health.ts";
import type { Satellite } from "@satellites/db";
import { enqueue, jobIdFor, type SatelliteJobKind } from "@satellites/queue";
import { finishSleep } from "@satellites/lifecycle";
import type { InstanceInfo } from "@satellites/provider";
import { announce, enteringEvent, type SatellitePatch, type State, transition } from "@satellites/state";
import pLimit from "p-limit";
import type { JobsContext } from "../context.ts";
import { stopFailedMachine } from "../failure.ts";

const JOB_FOR: Partial<Record<State, SatelliteJobKind>> = { creating: "launch", starting: "wake", stopping: "sleep", updating: "resize", deleting: "delete" };
const LIVE_JOB_STATES = new Set(["active", "waiting", "delayed", "prioritized", "waiting-children"]);
const TRANSITIONAL_STATES: State[] = ["creating", "starting", "stopping", "updating", "deleting"];
const STABLE_STATES: State[] = ["awake", "asleep", "failed"];

export interface ReconcileOptions {
  /** A transition younger than this is left alone: its job is probably just starting. */
  graceMs: number;
  healthTimeoutMs: number;
  /** A stable satellite unchanged since its last check is checked again after this long. */
  recheckMs: number;
  /** At most this many stable satellites per state and pass. */
  batch: number;
  /** Satellites checked at once (describe fallbacks, health probes, repairs). */
  concurrency: number;
  /** An instance no live satellite names is terminated once it is at least this old. */
  orphanGraceMs: number;
}

type Note = (what: string) => void;

export async function reconcile(ctx: JobsContext, opts: ReconcileOptions): Promise<string[]> {
  const repairs: string[] = [];
  const sats = await candidates(ctx, opts);
  // The batch described at once (EC2: a call per 200 instances, not one per satellite, so
  // the pass does not eat the describe budget that wakes poll with).
  let infos = new Map<string, InstanceInfo>();
  try {
    infos = await ctx.provider.describeMany(sats.flatMap((s) => (s.instanceId ? [s.instanceId] : [])));
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, "describing the fleet failed; describing satellites one by one");
  }
  const limit = pLimit(opts.concurrency);
  await Promise.all(
    sats.map((sat) =>
      limit(async () => {
        try {
          await reconcileOne(ctx, sat, opts, noter(ctx, sat, repairs, "reconciled"), infos);
        } catch (err) {
          ctx.log.warn({ satelliteId: sat.id, err: (err as Error).message }, "reconcile failed for satellite");
        }
      }),
    ),
  );
  const stable = sats.filter((s) => STABLE_STATES.includes(s.state));
  // Only rows still at the version checked: one that moved meanwhile stays first in line.
  if (stable.length) {
    await ctx.db.$executeRaw`UPDATE satellite SET "reconciledAt" = (now() AT TIME ZONE 'UTC')::timestamp(3)
      WHERE (id, version) IN (SELECT * FROM unnest(${stable.map((s) => s.id)}::text[], ${stable.map((s) => s.version)}::int[]))`;
  }
  try {
    for (const done of await sweepOrphans(ctx, opts)) repairs.push(done);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, "orphan sweep failed");
  }
  try {
    for (const done of (await ctx.provider.housekeeping?.()) ?? []) ctx.log.info({ housekeeping: done }, "provider housekeeping");
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, "provider housekeeping failed");
  }
  return repairs;
}

/** One satellite now (a provider or proxy said its machine may be gone). */
export async function reconcileSatellite(ctx: JobsContext, satelliteId: string, opts: ReconcileOptions): Promise<string[]> {
  const sat = await ctx.db.satellite.findUnique({ where: { id: satelliteId } });
  if (!sat || sat.state === "deleted") return [];
  const repairs: string[] = [];
  await reconcileOne(ctx, sat, opts, noter(ctx, sat, repairs, "reconciled (check)"), new Map());
  return repairs;
}

/**
 * Records each repair made to `sat`: in `repairs`, the repairs metric and the log. What comes
 * before the first colon is the repair's kind, the metric's label: never an id or a number.
 */
function noter(ctx: JobsContext, sat: Pick<Satellite, "id" | "orgId">, repairs: string[], msg: string): Note {
  return (what) => {
    repairs.push(`${sat.id}: ${what}`);
    ctx.metrics.repairs.inc({ kind: what.split(":")[0]! });
    ctx.log.info({ satelliteId: sat.id, orgId: sat.orgId, repair: what }, msg);
  };
}

/** Every transitional satellite, and per stable state the changed or overdue ones, oldest check first. */
async function candidates(ctx: JobsContext, opts: ReconcileOptions): Promise<Satellite[]> {
  const cutoff = new Date(Date.now() - opts.recheckMs);
  const [transitional, ...stable] = await Promise.all([
    ctx.db.satellite.findMany({ where: { state: { in: TRANSITIONAL_STATES } } }),
    ...STABLE_STATES.map((state) => dueInState(ctx, state, cutoff, opts.batch)),
  ]);
  return [...transitional!, ...stable.flat()];
}

/**
 * Never-checked rows first, then the most overdue: two queries, each a bounded range of the
 * (state, reconciledAt) index. One query with `IS NULL OR < cutoff` ordered NULLS FIRST cannot
 * use the index's order and sorts every row of the state (measured: a sequential scan of all
 * 80,000 asleep rows of 100,000, 250 ms, against 0.6 ms split).
 */
async function dueInState(ctx: JobsContext, state: State, cutoff: Date, batch: number): Promise<Satellite[]> {
  const fresh = await ctx.db.satellite.findMany({ where: { state, reconciledAt: null }, take: batch });
  if (fresh.length >= batch) return fresh;
  const overdue = await ctx.db.satellite.findMany({ where: { state, reconciledAt: { lt: cutoff } }, orderBy: { reconciledAt: "asc" }, take: batch - fresh.length });
  return [...fresh, ...overdue];
}

async function reconcileOne(ctx: JobsContext, sat: Satellite, opts: ReconcileOptions, note: Note, infos: Map<string, InstanceInfo>): Promise<void> {
  if (await jobInCharge(ctx, sat, opts)) return;
  const info = sat.instanceId ? (infos.get(sat.instanceId) ?? (await ctx.provider.describe(sat.instanceId))) : null;
  await REPAIRS[sat.state]?.(new Check(ctx, sat, info, opts, note));
}

/**
 * Limits commit first and their job is queued after (requestLimits): a web process killed, or
 * Redis away, between the two left them saved and pending with no job until the next wake.
 * Queued under the save's own job id when neither that job nor a start's (`-woken`,
 * `-launched`) is there: one that ran within the hour (completed jobs are kept that long) is
 * not run again. Limits that wait for the next start by design (a local disk limit on a running
 * daemon) get one more no-op run an hour. Not on EC2, where all of them wait for the next wake.
 */
async function queueLimitsLeftWithoutJob(c: Check): Promise<void> {
  const s = c.sat;
  if (c.ctx.provider.name === "ec2" || !s.limitsPending || s.limitsFailedVersion === s.limitsVersion) return;
  const data = { satelliteId: s.id, version: s.limitsVersion };
  const id = jobIdFor("applyLimits", data);
  for (const jobId of [id, `${id}-woken`, `${id}-launched`]) if (await c.ctx.queues.applyLimits.getJob(jobId)) return;
  await enqueue(c.ctx.queues, "applyLimits", data);
  c.note(`limits had no job: queued version ${s.limitsVersion}`);
}

/** A transition's job that is young, live or stalled (BullMQ re-runs those itself) is still in charge. */
async function jobInCharge(ctx: JobsContext, sat: Satellite, opts: ReconcileOptions): Promise<boolean> {
  const kind = JOB_FOR[sat.state];
  if (!kind) return false;
  if (Date.now() - sat.stateChangedAt.getTime() < opts.graceMs) return true;
  const job = await ctx.queues[kind].getJob(jobIdFor(kind, { satelliteId: sat.id, version: sat.version }));
  return Boolean(job && LIVE_JOB_STATES.has(await job.getState()));
}

/** One satellite's check: its row, its machine as the provider describes it, and the repairs it can make. */
class Check {
  /** No machine any more. */
  readonly gone: boolean;
  /** The machine is stopped or hibernated. */
  readonly sleeping: boolean;

  constructor(
    readonly ctx: JobsContext,
    readonly sat: Satellite,
    readonly info: InstanceInfo | null,
    private readonly opts: ReconcileOptions,
    readonly note: Note,
  ) {
    this.gone = !info || info.state === "missing" || info.state === "terminated";
    this.sleeping = info?.state === "stopped" || info?.state === "hibernated";
  }

  /** Running, with an address, and answering its health check over the proxy's hop. */
  async up(): Promise<boolean> {
    const info = this.info;
    return Boolean(info?.upstream) && info!.state === "running" && (await waitHealthy(info!.upstream!, { totalMs: this.opts.healthTimeoutMs, ...hopProbe(this.ctx, this.sat.id) }));
  }

  async to(state: State, what: string, set: SatellitePatch = {}, error?: string, limitsApplied?: number | null) {
    const r = await transition(this.ctx.db, {
      satellite: this.sat, to: state, cause: "reconcile", actor: "system", set,
      detail: { repair: what, instance: this.info?.state ?? "none" },
      ...(error ? { error } : {}),
      ...(limitsApplied !== undefined ? { limitsApplied } : {}),
    });
    if (r.won) this.note(`${state}: ${what}`);
    return r;
  }

  async awake(what: string, limitsApplied?: number | null): Promise<void> {
    await this.to("awake", what, { upstream: this.info!.upstream, lastActivityAt: new Date() }, undefined, limitsApplied);
  }

  async fail(reason: string): Promise<void> {
    const r = await this.to("failed", reason, { failureReason: reason, upstream: null }, reason);
    if (r.won) await stopFailedMachine(this.ctx, r.satellite);
  }

  /** The transition's job again, from the start (each job is idempotent). */
  async requeue(k: SatelliteJobKind): Promise<void> {
    const ref = { satelliteId: this.sat.id, version: this.sat.version };
    await this.ctx.queues[k].remove(jobIdFor(k, ref));
    await enqueue(this.ctx.queues, k, ref);
    this.note(`requeue: ${k}`);
  }
}

/** Per state, how a satellite is brought in line with its machine. */
const REPAIRS: Partial<Record<State, (c: Check) => Promise<void>>> = {
  async creating(c) {
    if (c.sat.instanceId && (await c.up())) await c.awake("instance is running and healthy", c.sat.limitsAppliedVersion);
    else await c.requeue("launch");
  },
  async starting(c) {
    if (await c.up()) await c.awake("instance is running and healthy");
    else if (c.gone) await c.fail("instance no longer exists");
    else await c.requeue("wake");
  },
  async stopping(c) {
    if (c.sleeping) await finishStopping(c);
    else if (c.gone) await c.fail("instance no longer exists");
    else await c.requeue("sleep");
  },
  deleting: (c) => c.requeue("delete"),
  // Only the provider knows how far the change got; the resize job is idempotent, so the repair
  // is to run it again (an instance gone for good makes it fail the satellite).
  updating: (c) => c.requeue("resize"),
  async awake(c) {
    const info = c.info;
    // A machine that stopped on its own crashed: that is a failure with its reason, not a sleep.
    if (info?.failure) await c.fail(info.failure);
    else if (c.sleeping) await c.to("asleep", "instance was stopped outside the product", { upstream: null });
    else if (c.gone) await c.fail("instance was terminated outside the product");
    else if (info?.state === "running") {
      if (info.upstream && info.upstream !== c.sat.upstream) await moveUpstream(c.ctx, c.sat, info.upstream, c.note);
      await queueLimitsLeftWithoutJob(c);
    }
  },
  async asleep(c) {
    if (c.gone && c.sat.instanceId) await c.fail("instance was terminated outside the product");
    else if (c.info?.state === "running" && (await c.up())) await c.awake("instance was started outside the product");
  },
  async failed(c) {
    if (!c.sat.instanceId) return;
    const entered = await enteringEvent(c.ctx.db, c.sat.id, "failed");
    if (entered?.from === "updating" && c.sleeping && !c.info?.failure) {
      await c.to("asleep", "size change given up; the machine is stopped and as it was", { failureReason: null, upstream: null });
    } else if (c.info?.state === "running" || c.info?.state === "pending" || c.info?.failure) {
      await stopFailedMachine(c.ctx, c.sat);
      c.note("stopped: the failed satellite's machine");
    }
  },
};

/** The machine stopped but the row still says stopping: asleep, then the resize or wake asked for meanwhile. */
async function finishStopping(c: Check): Promise<void> {
  const ctx = c.ctx;
  // A resize asked for with this stop follows in the same transaction (and is noted).
  const { asleep: r, resizing } = await finishSleep(ctx.db, ctx.queues, c.sat, {
    cause: "reconcile",
    actor: "system",
    set: { upstream: null },
    detail: { repair: "instance is stopped", instance: c.info?.state ?? "none" },
  });
  if (r.won) c.note("asleep: instance is stopped");
  if (resizing) c.note("requeue: resize");
  else if (r.won && r.satellite.wakeRequested) {
    const w = await transition(ctx.db, { satellite: r.satellite, to: "starting", cause: "reconcile", actor: "system", set: { wakeRequested: false } });
    if (w.won) await enqueue(ctx.queues, "wake", { satelliteId: c.sat.id, version: w.satellite.version });
  }
}

/**
 * The provider moved an awake satellite's address (EC2: a new private IP is not expected, a
 * local port may be): written and announced in one transaction, so proxies re-route at once
 * instead of at their cache's expiry.
 */
async function moveUpstream(ctx: JobsContext, sat: Satellite, upstream: string, note: Note): Promise<void> {
  const moved = await ctx.db.$transaction(async (tx) => {
    const { count } = await tx.satellite.updateMany({ where: { id: sat.id, version: sat.version, state: "awake" }, data: { upstream } });
    if (count === 0) return false;
    await announce(tx, { id: sat.id, orgId: sat.orgId, from: "awake", to: "awake", version: sat.version, cause: "reconcile", at: new Date().toISOString(), upstream });
    return true;
  });
  if (moved) note("upstream: address changed");
}

/** Instances tagged as a satellite's that no live satellite names, older than the grace: terminated. */
async function sweepOrphans(ctx: JobsContext, opts: ReconcileOptions): Promise<string[]> {
  const owned = await ctx.provider.listOwned();
  const old = owned.filter((o) => Date.now() - o.launchedAt.getTime() >= opts.orphanGraceMs);
  if (old.length === 0) return [];
  const rows = await ctx.db.satellite.findMany({ where: { id: { in: [...new Set(old.map((o) => o.satelliteId))] } }, select: { id: true, orgId: true, state: true, instanceId: true } });
  const byId = new Map(rows.map((r) => [r.id, r]));
  const done: string[] = [];
  for (const o of old) {
    const row = byId.get(o.satelliteId);
    if (row?.instanceId === o.instanceId && row.state !== "deleted") continue;
    // A launch records its instance, and a platform change swaps it, in their own jobs.
    if (row && (row.state === "creating" || row.state === "updating")) continue;
    try {
      await ctx.provider.terminate(o.instanceId);
      const what = `orphan: terminated ${o.instanceId} (${row ? `satellite is ${row.state} on ${row.instanceId ?? "no instance"}` : "no such satellite"})`;
      done.push(`${o.satelliteId}: ${what}`);
      ctx.metrics.repairs.inc({ kind: "orphan" });
      ctx.log.warn({ satelliteId: o.satelliteId, instanceId: o.instanceId, repair: what }, "reconciled");
    } catch (err) {
      ctx.log.warn({ instanceId: o.instanceId, err: (err as Error).message }, "terminating an orphan failed");
    }
  }
  return done;
}
