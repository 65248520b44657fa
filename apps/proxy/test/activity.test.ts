// Idle time is measured from the close of the last call: that write is never dropped by the
// activity throttles (which keep steady traffic to one write per interval), and it is on record
// before the proxy lets its lease go. The lease says whether a call is open or it only lingers.
import { afterAll, expect, it } from "vitest";
import { liveLeases, liveStreams, redisConnection } from "@satellites/queue";
import type { Redis } from "ioredis";
import type { Db } from "@satellites/db";
import { makeOrg, makeSatellite, testDb } from "@satellites/testing";
import { DEFAULT_LEASES, LeaseKeeper } from "../src/leases.ts";

const db = testDb();
const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
afterAll(async () => {
  redis.disconnect();
  await db.$disconnect();
});

/** The same client, counting the proxy's last-activity writes. */
function counting(): { db: Db; writes: () => number } {
  let n = 0;
  const satellite = new Proxy(db.satellite, {
    get(target, key) {
      const v = Reflect.get(target, key) as unknown;
      if (key === "updateMany") return (...args: unknown[]) => (n++, (v as (...a: unknown[]) => unknown).apply(target, args));
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const wrapped = new Proxy(db, { get: (target, key) => (key === "satellite" ? satellite : Reflect.get(target, key)) });
  return { db: wrapped, writes: () => n };
}

/** Counts the lease writes made on `redis` (the lease script, as ioredis sends it) from now on. */
function countLeaseWrites(redis: Redis): () => number {
  let n = 0;
  const sendCommand = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    if (command.name === "evalsha" || command.name === "eval") n++;
    return (sendCommand as (...a: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  return () => n;
}

const lastActivity = async (id: string): Promise<number> => (await db.satellite.findUniqueOrThrow({ where: { id } })).lastActivityAt?.getTime() ?? 0;

it("the close of the last call is on record before its lease is released; until then the lease only lingers", async () => {
  const org = await makeOrg(db);
  const sat = await makeSatellite(db, org.id);
  const leases = new LeaseKeeper(redis, db, "replica-activity", { ...DEFAULT_LEASES, lingerMs: 1_000, refreshMs: 1_000 }, (err) => {
    throw err;
  });
  try {
    await leases.open(sat.id);
    await expect.poll(() => lastActivity(sat.id)).toBeGreaterThan(0);
    expect(await liveStreams(redis, sat.id)).toBe(1);
    // A build shorter than the throttle interval: its end must still be recorded.
    await new Promise((r) => setTimeout(r, 1_500));
    const closedAt = Date.now();
    leases.close(sat.id);
    // Still leased (lingering), but no call open: a manual sleep may wait this out.
    await expect.poll(() => liveStreams(redis, sat.id), { timeout: 3_000 }).toBe(0);
    expect(await liveLeases(redis, sat.id)).toBe(1);
    // The moment the lease is gone (the idle scan may then act), the close is already written.
    await expect.poll(() => liveLeases(redis, sat.id), { timeout: 5_000, interval: 20 }).toBe(0);
    expect(await lastActivity(sat.id)).toBeGreaterThanOrEqual(closedAt - 50);
  } finally {
    await leases.shutdown();
  }
});

it("calls one after another (one in flight): one Postgres write for their closes, after the last; one lease write, which says open until the last has ended", async () => {
  const org = await makeOrg(db);
  const sat = await makeSatellite(db, org.id);
  const { db: counted, writes } = counting();
  const own = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  // A settle of 400 ms, not the default 50: on a loaded 2-vCPU machine (CI's parallel workers)
  // one round trip between two calls took longer than 50 ms, and each such gap is rightly a write.
  const settleMs = 400;
  const leases = new LeaseKeeper(own, counted, "replica-sequence", { ...DEFAULT_LEASES, lingerMs: 1_000, refreshMs: 1_000, settleMs }, (err) => {
    throw err;
  });
  await own.ping(); // connected: no command is queued offline and sent again
  const leaseWrites = countLeaseWrites(own);
  try {
    await leases.open(sat.id);
    leases.close(sat.id);
    for (let i = 0; i < 49; i++) {
      // Calls one after another, as fast as a client sends them (each waits for a Redis round trip).
      await own.ping();
      expect(await leases.open(sat.id)).toBeUndefined();
      leases.close(sat.id);
    }
    const lastClose = Date.now();
    // The first open's (throttled) touch; none per close (the code before this made 51).
    expect(writes()).toBeLessThanOrEqual(1);
    // The first open's lease; none per call after it (the code before this wrote two per call).
    expect(leaseWrites()).toBe(1);
    expect(await liveStreams(redis, sat.id)).toBe(1);
    // The last call's end is written a moment after it: the lease then only lingers.
    await expect.poll(() => liveStreams(redis, sat.id), { timeout: 1_000, interval: 10 }).toBe(0);
    expect(Date.now() - lastClose).toBeGreaterThanOrEqual(settleMs - 5);
    expect(leaseWrites()).toBeGreaterThanOrEqual(2);
    await expect.poll(() => liveLeases(redis, sat.id), { timeout: 5_000, interval: 20 }).toBe(0);
    expect(writes()).toBeLessThanOrEqual(2);
    expect(await lastActivity(sat.id)).toBeGreaterThanOrEqual(lastClose - 50);
  } finally {
    await leases.shutdown();
    own.disconnect();
  }
});

it("a call that opens after a refresh wrote the lease as lingering, before the settle ran out, is written as open", async () => {
  const org = await makeOrg(db);
  const sat = await makeSatellite(db, org.id);
  const leases = new LeaseKeeper(redis, db, "replica-settle", { ...DEFAULT_LEASES, refreshMs: 500, lingerMs: 5_000, settleMs: 3_000 }, (err) => {
    throw err;
  });
  try {
    const openedAt = Date.now();
    await leases.open(sat.id);
    leases.close(sat.id);
    // The refresh at 500 ms writes what is true then: no call open (the settle is still running).
    await expect.poll(() => liveStreams(redis, sat.id), { timeout: 2_000, interval: 20 }).toBe(0);
    expect(leases.tryOpen(sat.id)).toBe(true);
    // Written at once, not left to the next refresh (at 1,000 ms).
    await expect.poll(() => liveStreams(redis, sat.id), { timeout: 200, interval: 10 }).toBe(1);
    expect(Date.now() - openedAt).toBeLessThan(1_000);
  } finally {
    await leases.shutdown();
  }
});
