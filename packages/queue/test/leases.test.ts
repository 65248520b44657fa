import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { holdLease, liveLeases, redisConnection, releaseLease, withLiveLeases } from "../src/index.ts";

const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
afterAll(() => redis.disconnect());

describe("stream leases", () => {
  it("count live replicas, and lapse without a refresh", async () => {
    const sat = randomUUID();
    expect(await liveLeases(redis, sat)).toBe(0);
    await holdLease(redis, sat, "proxy-a");
    await holdLease(redis, sat, "proxy-b", 200);
    expect(await liveLeases(redis, sat)).toBe(2);
    await releaseLease(redis, sat, "proxy-a");
    expect(await liveLeases(redis, sat)).toBe(1);
    // proxy-b "crashed": its lease lapses on its own.
    await new Promise((r) => setTimeout(r, 300));
    expect(await liveLeases(redis, sat)).toBe(0);
  });

  it("a refresh extends the lease", async () => {
    const sat = randomUUID();
    await holdLease(redis, sat, "proxy-a", 300);
    await new Promise((r) => setTimeout(r, 200));
    await holdLease(redis, sat, "proxy-a", 300);
    await new Promise((r) => setTimeout(r, 200));
    expect(await liveLeases(redis, sat)).toBe(1);
  });

  it("answers for many satellites in one round trip", async () => {
    const ids = Array.from({ length: 50 }, () => randomUUID());
    await holdLease(redis, ids[3]!, "p");
    await holdLease(redis, ids[42]!, "p");
    expect([...(await withLiveLeases(redis, ids))].sort()).toEqual([ids[3]!, ids[42]!].sort());
    expect(await withLiveLeases(redis, [])).toEqual(new Set());
  });
});
