// Retention: history past HISTORY_RETENTION_DAYS (but each satellite's last event before it)
// and deleted satellites past DELETED_RETENTION_DAYS are purged; everything inside the windows stays.
import { randomUUID } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { parseConfig } from "@satellites/config";
import { makeOrg, makeSatellite, testDb } from "@satellites/testing";
import { purgeExpired } from "../src/processors/retention.ts";

const db = testDb();
afterAll(async () => db.$disconnect());
const daysAgo = (d: number) => new Date(Date.now() - d * 24 * 3600 * 1000);

it("purges history older than 400 days and deleted satellites older than 30 days, nothing newer", async () => {
  const org = await makeOrg(db);
  const live = await makeSatellite(db, org.id);
  const event = (finishedAt: Date) =>
    db.satelliteEvent.create({ data: { satelliteId: live.id, orgId: org.id, from: "awake", to: "stopping", cause: "idle", actor: "system", startedAt: finishedAt, finishedAt } });
  const old = await event(daysAgo(402));
  // The last one before the cutoff stays: it says what state the satellite was in at it.
  const marker = await event(daysAgo(401));
  const kept = await event(daysAgo(399));
  const gone = await makeSatellite(db, org.id, { name: "gone" });
  await db.satellite.update({ where: { id: gone.id }, data: { state: "deleted", deletedAt: daysAgo(31), liveName: null } });
  const recent = await makeSatellite(db, org.id, { name: "recent" });
  await db.satellite.update({ where: { id: recent.id }, data: { state: "deleted", deletedAt: daysAgo(29), liveName: null } });

  // Build records and call counts: past BUILD_RETENTION_DAYS (90) they go, within it they stay.
  const build = (id: string, days: number) => db.build.create({ data: { id, orgId: org.id, satelliteId: live.id, actor: "token:t", client: "c", startedAt: daysAgo(days), endedAt: daysAgo(days), durationMs: 1, grpcCode: 0, replica: "p", seenAt: daysAgo(days) } });
  const oldBuild = await build(randomUUID(), 91);
  const keptBuild = await build(randomUUID(), 89);
  const stat = (days: number) => db.callStat.create({ data: { orgId: org.id, satelliteId: live.id, minute: daysAgo(days), method: "/m", actor: "token:t", client: "c", calls: 1, failed: 0, bytesUp: 0n, bytesDown: 0n, totalMs: 0n } });
  await stat(91);
  await stat(89);

  const r = await purgeExpired({ db, config: parseConfig({}) });
  expect(r.builds).toBeGreaterThanOrEqual(1);
  expect(await db.build.findUnique({ where: { id: oldBuild.id } })).toBeNull();
  expect(await db.build.findUnique({ where: { id: keptBuild.id } })).not.toBeNull();
  expect(await db.callStat.count({ where: { satelliteId: live.id } })).toBe(1);
  expect(r.events).toBeGreaterThanOrEqual(1);
  expect(r.satellites).toBeGreaterThanOrEqual(1);
  expect(await db.satelliteEvent.findUnique({ where: { id: old.id } })).toBeNull();
  expect(await db.satelliteEvent.findUnique({ where: { id: marker.id } })).not.toBeNull();
  expect(await db.satelliteEvent.findUnique({ where: { id: kept.id } })).not.toBeNull();
  expect(await db.satellite.findUnique({ where: { id: gone.id } })).toBeNull();
  expect(await db.satelliteEvent.count({ where: { satelliteId: gone.id } })).toBe(0);
  expect(await db.satellite.findUnique({ where: { id: recent.id } })).not.toBeNull();
  expect(await db.satellite.findUnique({ where: { id: live.id } })).not.toBeNull();
});

// Deleting a purged satellite's row took its history by cascade: years of events of many
// satellites in one statement, one transaction, and none of it counted.
it("a purged satellite's history goes in batches of its own, counted, before its row", async () => {
  const org = await makeOrg(db);
  const gone = await makeSatellite(db, org.id, { name: "long-history" });
  await db.satellite.update({ where: { id: gone.id }, data: { state: "deleted", deletedAt: daysAgo(31), liveName: null } });
  const N = 12_000;
  const at = (i: number) => new Date(daysAgo(300).getTime() + i * 1000);
  await db.satelliteEvent.createMany({
    data: Array.from({ length: N }, (_, i) => ({ satelliteId: gone.id, orgId: org.id, from: "awake" as const, to: "stopping" as const, cause: "idle" as const, actor: "system", startedAt: at(i), finishedAt: at(i) })),
  });
  const r = await purgeExpired({ db, config: parseConfig({}) });
  expect(r.events).toBeGreaterThanOrEqual(N);
  expect(await db.satelliteEvent.count({ where: { satelliteId: gone.id } })).toBe(0);
  expect(await db.satellite.findUnique({ where: { id: gone.id } })).toBeNull();
});

// The figures read the state a satellite was in when a window opens from its last event before
// it: purging that one made a satellite asleep for 401 days vanish from every figure.
it("each satellite keeps its last event before the cutoff however old; older ones and old OOM records go", async () => {
  const org = await makeOrg(db);
  const sat = await makeSatellite(db, org.id, { name: "long-asleep" });
  const event = (days: number, to: "stopping" | "asleep", cause: "idle" | "memory" = "idle") =>
    db.satelliteEvent.create({ data: { satelliteId: sat.id, orgId: org.id, from: "awake", to, cause, actor: "system", startedAt: daysAgo(days), finishedAt: daysAgo(days) } });
  const older = await event(402, "stopping");
  const last = await event(401, "asleep");
  const oom = await event(400.5, "asleep", "memory");
  // Woken ten days ago: a 90-day window opens on the 401-day-old event's state.
  const recent = await event(10, "stopping");
  await purgeExpired({ db, config: parseConfig({}) });
  expect(await db.satelliteEvent.findUnique({ where: { id: older.id } })).toBeNull();
  expect(await db.satelliteEvent.findUnique({ where: { id: oom.id } })).toBeNull();
  expect(await db.satelliteEvent.findUnique({ where: { id: last.id } })).not.toBeNull();
  expect(await db.satelliteEvent.findUnique({ where: { id: recent.id } })).not.toBeNull();
});

it("a satellite whose only events before the cutoff are OOM records loses them too", async () => {
  const org = await makeOrg(db);
  const sat = await makeSatellite(db, org.id, { name: "only-oom-old" });
  const oom = await db.satelliteEvent.create({ data: { satelliteId: sat.id, orgId: org.id, from: "awake", to: "awake", cause: "memory", actor: "system", startedAt: daysAgo(401), finishedAt: daysAgo(401) } });
  await purgeExpired({ db, config: parseConfig({}) });
  expect(await db.satelliteEvent.findUnique({ where: { id: oom.id } })).toBeNull();
});
