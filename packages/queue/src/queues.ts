// Queue contracts between the processes that ask (web, proxy) and the one that acts (jobs).
// Every job names a satellite and the version it was enqueued for; job ids derive from both,
// so the same intent enqueued twice (a retry, a second proxy) is one job.
import { Queue, type ConnectionOptions } from "bullmq";
import { Redis } from "ioredis";
import { type CacheJob, createCacheQueue } from "./cache.ts";

export const QUEUE_NAMES = {
  launch: "satellite-launch",
  wake: "satellite-wake",
  sleep: "satellite-sleep",
  delete: "satellite-delete",
  applyLimits: "satellite-apply-limits",
  resize: "satellite-resize",
  idleScan: "satellite-idle-scan",
  reconcile: "satellite-reconcile",
  retention: "satellite-retention",
  check: "satellite-check",
  schedule: "satellite-schedule",
  auditPrune: "audit-prune",
  memoryKills: "satellite-memory-kills",
  cacheScan: "satellite-cache-scan",
} as const;

/** `check`: reconcile one satellite now (its process died, or a proxy could not reach it). */
export type SatelliteJobKind = "launch" | "wake" | "sleep" | "delete" | "applyLimits" | "resize" | "check";

export interface SatelliteJob {
  satelliteId: string;
  /** The satellite version right after the transition that asked for this job. */
  version: number;
}

/** BullMQ forbids ':' in custom ids; '-' keeps them readable in Redis. */
export function jobIdFor(kind: SatelliteJobKind, job: SatelliteJob): string {
  return `${kind}-${job.satelliteId}-v${job.version}`;
}

/** ioredis settings BullMQ requires for blocking connections. */
export function redisConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
}

export type SatelliteQueues = Record<SatelliteJobKind, Queue<SatelliteJob>> & {
  /** Cache measurements and resets (cache.ts). */
  cache: Queue<CacheJob>;
  close(): Promise<void>;
};

export function createQueues(connection: ConnectionOptions, prefix?: string): SatelliteQueues {
  const make = (name: string) =>
    new Queue<SatelliteJob>(name, {
      connection,
      ...(prefix ? { prefix } : {}),
      defaultJobOptions: {
        attempts: 8,
        // Jitter: retries of many jobs failed by one cause (throttling, capacity) spread out
        // instead of returning together.
        backoff: { type: "exponential", delay: 500, jitter: 0.5 },
        removeOnComplete: { age: 3600, count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    });
  const queues = {
    launch: make(QUEUE_NAMES.launch),
    wake: make(QUEUE_NAMES.wake),
    sleep: make(QUEUE_NAMES.sleep),
    delete: make(QUEUE_NAMES.delete),
    applyLimits: make(QUEUE_NAMES.applyLimits),
    resize: make(QUEUE_NAMES.resize),
    check: make(QUEUE_NAMES.check),
  };
  const cache = createCacheQueue(connection, prefix);
  return {
    ...queues,
    cache,
    async close() {
      await Promise.all([...Object.values(queues), cache].map((q) => q.close()));
    },
  };
}

export async function enqueue(queues: SatelliteQueues, kind: SatelliteJobKind, job: SatelliteJob): Promise<void> {
  await queues[kind].add(kind, job, { jobId: jobIdFor(kind, job) });
}

/** A check is one reconcile of one satellite: any number of reporters within 2 s are one job. */
export const CHECK_DEDUPE_MS = 2_000;

/** Asks the jobs process to compare this satellite with its machine now. */
export async function requestCheck(queues: SatelliteQueues, satelliteId: string): Promise<void> {
  await queues.check.add("check", { satelliteId, version: Math.floor(Date.now() / CHECK_DEDUPE_MS) }, { jobId: jobIdFor("check", { satelliteId, version: Math.floor(Date.now() / CHECK_DEDUPE_MS) }), attempts: 1, removeOnFail: { count: 100 } });
}
