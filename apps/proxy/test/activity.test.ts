// Idle time is measured from the close of the last call: that write is never dropped by the
// activity throttles (which keep steady traffic to one write per interval), and it is on record
// before the proxy lets its lease go. The lease says whether a call is open or it only lingers.
import { afterAll, expect, it } from "vitest";
import { liveLeases, liveStreams, redisConnection } from "@satellites/queue";
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

it("calls one after another (one in flight): one Postgres write for their closes, after the last; the lease still says open or lingering at each", async () => {
  const org = await makeOrg(db);
  const sat = await makeSatellite(db, org.id);
  const { db: counted, writes } = counting();
  const leases = new LeaseKeeper(redis, counted, "replica-sequence", { ...DEFAULT_LEASES, lingerMs: 1_000, refreshMs: 1_000 }, (err) => {
    throw err;
  });
  try {
    await leases.open(sat.id);
    leases.close(sat.id);
    for (let i = 0; i < 49; i++) {
      expect(await leases.open(sat.id)).toBeUndefined();
      leases.close(sat.id);
    }
    const lastClose = Date.now();
    // The first open's (throttled) touch; none per close (the code before this made 51).
    expect(writes()).toBeLessThanOrEqual(1);
    await expect.poll(() => liveStreams(redis, sat.id)).toBe(0);
    await expect.poll(() => liveLeases(redis, sat.id), { timeout: 5_000, interval: 20 }).toBe(0);
    expect(writes()).toBeLessThanOrEqual(2);
    expect(await lastActivity(sat.id)).toBeGreaterThanOrEqual(lastClose - 50);
  } finally {
    await leases.shutdown();
  }
});
