// EC2's API limits are account-wide token buckets: every jobs process together must stay
// under them, not each one. One Redis-backed limiter per action class (rate-limiter-flexible),
// shared by all workers; a call waits in this process's queue for its turn.
import type { Redis } from "ioredis";
import { RateLimiterQueue, RateLimiterRedis } from "rate-limiter-flexible";

/** Calls that would wait longer than this fail (retryably) instead: a job then backs off. */
const MAX_QUEUE = 10_000;

export function accountPacer<C extends string>(redis: Redis, prefix: string, rates: Record<C, { perSecond: number }>): (cls: C) => Promise<void> {
  const queues = new Map<C, RateLimiterQueue>();
  for (const cls of Object.keys(rates) as C[]) {
    const limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:ec2-pace:${cls}`, points: rates[cls].perSecond, duration: 1 });
    queues.set(cls, new RateLimiterQueue(limiter, { maxQueueSize: MAX_QUEUE }));
  }
  return async (cls) => {
    await queues.get(cls)?.removeTokens(1);
  };
}
