// Idle time is measured from the close of the last call: that write is never dropped by the
// activity throttles (which keep steady traffic to one write per interval). The lease says
// whether a call is open or it only lingers.
import { afterAll, expect, it } from "vitest";
import { liveLeases, liveStreams, redisConnection } from "@satellites/queue";
import { makeOrg, makeSatellite, testDb } from "@satellites/testing";
import { DEFAULT_LEASES, LeaseKeeper } from "../src/leases.ts";

const db = testDb();
const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
afterAll(async () => {
  redis.disconnect();
  await db.$disconnect();
});

it("the close of the last call records last activity, and the lease then only lingers", async () => {
  const org = await makeOrg(db);
  const sat = await makeSatellite(db, org.id);
  const leases = new LeaseKeeper(redis, db, "replica-activity", { ...DEFAULT_LEASES, lingerMs: 2_000 }, (err) => {
    throw err;
  });
  try {
    await leases.open(sat.id);
    await expect.poll(async () => (await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })).lastActivityAt).not.toBeNull();
    expect(await liveStreams(redis, sat.id)).toBe(1);
    // A build shorter than the throttle interval: its end must still be recorded.
    await new Promise((r) => setTimeout(r, 1_500));
    const closedAt = Date.now();
    leases.close(sat.id);
    await expect.poll(async () => (await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })).lastActivityAt!.getTime(), { timeout: 3_000 }).toBeGreaterThanOrEqual(closedAt - 50);
    // Still leased (lingering), but no call open: a manual sleep may wait this out.
    await expect.poll(() => liveStreams(redis, sat.id), { timeout: 3_000 }).toBe(0);
    expect(await liveLeases(redis, sat.id)).toBe(1);
  } finally {
    await leases.shutdown();
  }
});
