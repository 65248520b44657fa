import { randomUUID } from "node:crypto";
import { createQueues, redisConnection, type SatelliteQueues } from "@satellites/queue";
import type { Redis } from "ioredis";

/** Queues under a prefix of their own, so test files never see each other's jobs. */
export function testQueues(): { queues: SatelliteQueues; redis: Redis; prefix: string; close(): Promise<void> } {
  const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const prefix = `sat-test-${randomUUID().slice(0, 8)}`;
  const queues = createQueues(redis, prefix);
  return {
    queues,
    redis,
    prefix,
    async close() {
      await queues.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    },
  };
}
