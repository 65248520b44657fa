// One BullMQ worker per queue (one processor each), plus job schedulers for the periodic work:
// idle scan, reconcile, keep-warm schedules, retention, audit pruning. Provider start/run and stop calls are paced by BullMQ's rate limiter, which is
// global per queue across every worker process — sized to EC2's account-wide token buckets.
import { pruneAudit } from "@satellites/audit";
import { Queue, Worker, type ConnectionOptions, type Job, type Processor, type WorkerOptions } from "bullmq";
import { CACHE_QUEUE, type CacheJob, createQueues, QUEUE_NAMES, type SatelliteJob, type SatelliteJobKind } from "@satellites/queue";
import type { Config } from "@satellites/config";
import type { Db } from "@satellites/db";
import type { Provider } from "@satellites/provider";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { JobsContext } from "./context.ts";
import { isThrottled } from "./failure.ts";
import { HeldProbes } from "./held-probes.ts";
import { MachineDeaths } from "./machine-deaths.ts";
import { machineEvents } from "./machine-events.ts";
import { createMetrics, type JobMetrics } from "./metrics.ts";
import { processApplyLimits } from "./processors/apply-limits.ts";
import { processCache } from "./processors/cache.ts";
import { cacheScan } from "./processors/cache-scan.ts";
import { processDelete } from "./processors/delete.ts";
import { idleScan } from "./processors/idle-scan.ts";
import { processLaunch } from "./processors/launch.ts";
import { memoryKillPass } from "./processors/memory-kill-pass.ts";
import { reconcile, type ReconcileOptions, reconcileSatellite } from "./processors/reconcile.ts";
import { purgeExpired } from "./processors/retention.ts";
import { processResize } from "./processors/resize.ts";
import { scheduleScan } from "./processors/schedule-scan.ts";
import { processSleep } from "./processors/sleep.ts";
import { processWake } from "./processors/wake.ts";

export interface JobsDeps {
  config: Config;
  db: Db;
  /** For leases; BullMQ gets its own connections from `connection`. */
  redis: Redis;
  connection: ConnectionOptions;
  provider: Provider;
  log: Logger;
  metrics?: JobMetrics;
  /** BullMQ key prefix; tests use their own to stay apart. */
  prefix?: string;
  /** The health probe's client certificate for the mutual-TLS hop to satellites. */
  hopCredentials?: JobsContext["hopCredentials"];
}

export interface RunningJobs {
  ctx: JobsContext;
  close(): Promise<void>;
}

// EC2: RunInstances/StartInstances 2 per second sustained; other mutating calls 5 per second
// (a resize is mostly ModifyInstanceAttribute, like applyLimits). Local processes need no pacing
// beyond a sanity cap.
const EC2_PACE: Record<SatelliteJobKind, { max: number; duration: number }> = {
  launch: { max: 2, duration: 1000 },
  wake: { max: 2, duration: 1000 },
  sleep: { max: 5, duration: 1000 },
  delete: { max: 5, duration: 1000 },
  applyLimits: { max: 5, duration: 1000 },
  resize: { max: 5, duration: 1000 },
  check: { max: 20, duration: 1000 },
};
const LOCAL_PACE = { max: 50, duration: 1000 };
const CONCURRENCY: Record<SatelliteJobKind, number> = { launch: 20, wake: 50, sleep: 20, delete: 10, applyLimits: 10, resize: 10, check: 10 };
/** A queue told RequestLimitExceeded pauses 1–2 s (jittered). */
const THROTTLED_PAUSE_MS = 1_000;
/** How often retention runs (it purges in bounded batches). */
const RETENTION_EVERY_MS = 3600_000;

/** What every worker of this process shares: the connection, the prefix and how fast a killed worker's job is re-run. */
type WorkerCommon = Pick<WorkerOptions, "connection" | "prefix" | "lockDuration" | "stalledInterval" | "maxStalledCount">;

export async function startJobs(deps: JobsDeps): Promise<RunningJobs> {
  const { config, connection, prefix } = deps;
  const ctx = jobsContext(deps, createQueues(connection, prefix));
  const common: WorkerCommon = {
    connection,
    ...(prefix ? { prefix } : {}),
    // A killed worker's job is re-run by another within seconds, not the default 30 s.
    lockDuration: config.JOBS_LOCK_MS,
    stalledInterval: Math.max(500, Math.floor(config.JOBS_LOCK_MS / 2)),
    maxStalledCount: 3,
  };
  const reconcileOpts = reconcileOptions(config);
  const workers: Worker[] = Object.entries(processors(reconcileOpts)).map(([kind, handle]) => satelliteWorker(kind as SatelliteJobKind, handle, ctx, common));
  workers.push(cacheWorker(ctx, common));
  const maintenance = await startMaintenance(ctx, common, reconcileOpts);
  workers.push(...maintenance.workers);

  // A machine that dies on its own is noticed within seconds, not at the next reconcile pass.
  const unwatch = deps.provider.watch?.(machineEvents(ctx));

  return {
    ctx,
    async close() {
      unwatch?.();
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(maintenance.queues.map((q) => q.close()));
      await ctx.queues.close();
      ctx.heldProbes.close();
    },
  };
}

function jobsContext(deps: JobsDeps, queues: JobsContext["queues"]): JobsContext {
  const local = deps.provider.name !== "ec2";
  return {
    db: deps.db,
    redis: deps.redis,
    provider: deps.provider,
    queues,
    config: deps.config,
    log: deps.log,
    metrics: deps.metrics ?? createMetrics(),
    healthTimeoutMs: (deps.config.HEALTH_TIMEOUT_SECONDS ?? (local ? 30 : 300)) * 1000,
    // A local satellite is up within a second, and every held call waits for the probe to see
    // it: a pause that has backed off to 500 ms left it serving unnoticed for ~100 ms on average
    // (measured 40–220 ms). An EC2 instance takes minutes to boot; there backing off is enough.
    healthPoll: local ? { intervalMs: 20, maxIntervalMs: 50 } : { intervalMs: 100, maxIntervalMs: 500 },
    ...(deps.hopCredentials ? { hopCredentials: deps.hopCredentials } : {}),
    heldProbes: new HeldProbes(),
    deaths: new MachineDeaths(),
  };
}

function reconcileOptions(config: Config): ReconcileOptions {
  // The grace only covers the moment between a transition's commit and its enqueue; a job
  // that is running (or stalled, which BullMQ re-runs) is recognised by its id.
  return {
    graceMs: 5_000,
    healthTimeoutMs: 3_000,
    // Drift made outside the product (a console stop) shows in no row: a stable satellite is
    // due again after one period, and the batch bounds a pass however large the fleet.
    recheckMs: Math.floor(config.RECONCILE_EVERY_MS / 2),
    batch: 1_000,
    concurrency: 8,
    orphanGraceMs: config.ORPHAN_GRACE_SECONDS * 1000,
  };
}

type SatelliteProcessor = (ctx: JobsContext, job: Job<SatelliteJob>) => Promise<string>;

function processors(reconcileOpts: ReconcileOptions): Record<SatelliteJobKind, SatelliteProcessor> {
  return {
    launch: processLaunch,
    wake: processWake,
    sleep: processSleep,
    delete: processDelete,
    applyLimits: processApplyLimits,
    resize: processResize,
    check: async (c, job) => {
      const repairs = await reconcileSatellite(c, job.data.satelliteId, { ...reconcileOpts, graceMs: 0 });
      // The outcome's first word is a metric label: "repaired", not the satellite's id.
      return repairs.length > 0 ? `repaired: ${repairs.join("; ")}` : "ok";
    },
  };
}

/** The one worker of a satellite queue: its processor, paced by the queue's global limiter. */
function satelliteWorker(kind: SatelliteJobKind, handle: SatelliteProcessor, ctx: JobsContext, common: WorkerCommon): Worker<SatelliteJob, string> {
  // The processor pauses its own worker when throttled; it exists once the worker does.
  const self: { worker?: Worker<SatelliteJob, string> } = {};
  const run: Processor<SatelliteJob, string> = async (job) => {
    const log = ctx.log.child({ queue: kind, satelliteId: job.data.satelliteId, jobId: job.id });
    try {
      const outcome = await handle({ ...ctx, log }, job);
      ctx.metrics.jobs.inc({ queue: kind, outcome: outcome.split(":")[0]! });
      log.debug({ outcome }, "job done");
      return outcome;
    } catch (err) {
      if (isThrottled(err) && self.worker) {
        // EC2 says the account is over its rate: this queue pauses (every worker, since the
        // limiter is global) and the job waits without spending an attempt.
        ctx.metrics.jobs.inc({ queue: kind, outcome: "throttled" });
        await self.worker.rateLimit(THROTTLED_PAUSE_MS + Math.floor(Math.random() * THROTTLED_PAUSE_MS));
        throw Worker.RateLimitError();
      }
      ctx.metrics.jobs.inc({ queue: kind, outcome: "error" });
      throw err;
    }
  };
  const limiter = ctx.provider.name === "ec2" ? EC2_PACE[kind] : LOCAL_PACE;
  const w = new Worker<SatelliteJob, string>(QUEUE_NAMES[kind], run, { ...common, concurrency: CONCURRENCY[kind], limiter });
  self.worker = w;
  w.on("error", (err) => ctx.log.error({ queue: kind, err: err.message }, "worker error"));
  return w;
}

/** Cache measurements and resets (asked for by the dashboard): BuildKit calls, no provider call. */
function cacheWorker(ctx: JobsContext, common: WorkerCommon): Worker<CacheJob, string> {
  const w = new Worker<CacheJob, string>(
    CACHE_QUEUE,
    async (job) => {
      const log = ctx.log.child({ queue: "cache", satelliteId: job.data.satelliteId, jobId: job.id });
      const outcome = await processCache({ ...ctx, log }, job);
      ctx.metrics.jobs.inc({ queue: "cache", outcome: outcome.split(":")[0]! });
      log.info({ action: job.data.action, outcome }, "cache job done");
      return outcome;
    },
    { ...common, concurrency: 10 },
  );
  w.on("error", (err) => ctx.log.error({ queue: "cache", err: err.message }, "worker error"));
  return w;
}

function maintenanceQueue(name: string, common: WorkerCommon): Queue {
  return new Queue(name, { connection: common.connection, ...(common.prefix ? { prefix: common.prefix } : {}) });
}

interface Maintenance {
  name: string;
  every: number;
  run: () => Promise<string>;
}

/**
 * A periodic job that can be switched off (`everySeconds` 0). Switched off, the schedule an
 * earlier configuration left is removed, or it would run on.
 */
async function optional(maintenance: Maintenance[], common: WorkerCommon, name: string, everySeconds: number, run: () => Promise<string>): Promise<void> {
  if (everySeconds > 0) {
    maintenance.push({ name, every: everySeconds * 1000, run });
    return;
  }
  const q = maintenanceQueue(name, common);
  await q.removeJobScheduler(name);
  await q.close();
}

/** The periodic work: one job scheduler each, deduplicated across any number of jobs processes. */
async function startMaintenance(ctx: JobsContext, common: WorkerCommon, reconcileOpts: ReconcileOptions): Promise<{ workers: Worker[]; queues: Queue[] }> {
  const { config } = ctx;
  const maintenance: Maintenance[] = [
    { name: QUEUE_NAMES.idleScan, every: config.IDLE_SCAN_EVERY_MS, run: async () => JSON.stringify(await idleScan(ctx)) },
    { name: QUEUE_NAMES.reconcile, every: config.RECONCILE_EVERY_MS, run: async () => JSON.stringify(await reconcile(ctx, reconcileOpts)) },
    // Keep-warm schedules: wakes shortly before a window opens (docs/lifecycle.md).
    { name: QUEUE_NAMES.schedule, every: config.SCHEDULE_SCAN_EVERY_MS, run: async () => JSON.stringify(await scheduleScan(ctx)) },
    { name: QUEUE_NAMES.retention, every: RETENTION_EVERY_MS, run: async () => JSON.stringify(await purgeExpired(ctx)) },
    // Audit retention: records older than AUDIT_RETENTION_DAYS go, checked hourly.
    { name: QUEUE_NAMES.auditPrune, every: 3_600_000, run: async () => JSON.stringify({ deleted: await pruneAudit(ctx.db, config.AUDIT_RETENTION_DAYS) }) },
  ];
  // OOM kills that a provider reads by a pass (EC2's consoles), unless switched off.
  const killsEvery = config.PROVIDER === "ec2" && ctx.provider.memoryKillPass ? config.EC2_OOM_WATCH_SECONDS : 0;
  await optional(maintenance, common, QUEUE_NAMES.memoryKills, killsEvery, async () => JSON.stringify(await memoryKillPass(ctx, killsEvery)));
  // Awake satellites' caches after builds (the sleep job measures the rest).
  await optional(maintenance, common, QUEUE_NAMES.cacheScan, config.CACHE_MEASURE_EVERY_SECONDS, async () => JSON.stringify(await cacheScan(ctx, config.CACHE_MEASURE_EVERY_SECONDS)));
  const workers: Worker[] = [];
  const queues: Queue[] = [];
  for (const m of maintenance) {
    const q = maintenanceQueue(m.name, common);
    await q.upsertJobScheduler(m.name, { every: m.every }, { name: m.name, opts: { removeOnComplete: { count: 10 }, removeOnFail: { count: 50 } } });
    queues.push(q);
    const w = new Worker(m.name, m.run, { ...common, concurrency: 1 });
    w.on("error", (err) => ctx.log.error({ queue: m.name, err: err.message }, "worker error"));
    workers.push(w);
  }
  return { workers, queues };
}
