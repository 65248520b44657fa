// The cache queue: the dashboard asks the jobs process to measure a satellite's BuildKit cache
// (Control/DiskUsage) or to reset it (Control/Prune); only the jobs process talks to satellites.
// One pending job per satellite and action: asking twice while one waits is one job.
import { Queue, type ConnectionOptions } from "bullmq";

export const CACHE_QUEUE = "satellite-cache";

export type CacheAction = "measure" | "reset";

export interface CacheJob {
  satelliteId: string;
  action: CacheAction;
  /** Who asked ("user:<id>", "token:<id>", "system"): the history event names them. */
  actor: string;
}

export function createCacheQueue(connection: ConnectionOptions, prefix?: string): Queue<CacheJob> {
  return new Queue<CacheJob>(CACHE_QUEUE, {
    connection,
    ...(prefix ? { prefix } : {}),
    // Not retried behind the user's back: a failed reset says so in the history. Removed when done
    // (either way) so the next request is a new job.
    defaultJobOptions: { attempts: 1, removeOnComplete: true, removeOnFail: true },
  });
}

export async function requestCache(queue: Queue<CacheJob>, job: CacheJob): Promise<void> {
  await queue.add(job.action, job, { jobId: `cache-${job.action}-${job.satelliteId}` });
}
