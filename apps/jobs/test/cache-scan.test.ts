// A satellite that stays awake has its BuildKit cache measured again after builds, unasked: the
// real jobs process's periodic pass (CACHE_MEASURE_EVERY_SECONDS, 1 s here) finds the awake
// satellites with a build finished since their last measurement (as the proxies record builds)
// and measures them (Control/DiskUsage over the mutual-TLS hop). One that has not built lately is
// left alone.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Db } from "@satellites/db";
import { makeOrg } from "@satellites/testing";
import { requirePeer } from "@satellites/testing/peers";
import { jobsWorld, launchAwake, type JobsWorld } from "./harness.ts";

const isRoot = process.getuid?.() === 0;
let db: Db;
let world: JobsWorld;

beforeAll(async () => {
  if (!isRoot) return;
  world = await jobsWorld({ LOCAL_BUILDKITD: requirePeer("buildkit", "buildkitd"), CACHE_MEASURE_EVERY_SECONDS: "1" });
  db = world.db;
  await world.start();
}, 60_000);
afterAll(async () => {
  await world?.close();
});

const measuredAt = async (id: string) => (await db.satellite.findUniqueOrThrow({ where: { id } })).cacheMeasuredAt;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

it.runIf(isRoot)("measures an awake satellite's cache after each build it finishes, and not otherwise", { timeout: 120_000 }, async () => {
  const org = await makeOrg(db);
  const satellite = await launchAwake(world, { orgId: org.id, name: "scan" });
  const built = (endedAt = new Date()) =>
    db.build.create({
      data: { id: randomUUID(), orgId: org.id, satelliteId: satellite.id, actor: "token:t", client: "buildctl", startedAt: new Date(endedAt.getTime() - 1000), endedAt, durationMs: 1000, grpcCode: 0, replica: "proxy-x", seenAt: endedAt },
    });

  // Nothing built lately (only a build that ended before the last two passes, which a failed
  // measurement would have been asked for then): three passes leave it unmeasured.
  await built(new Date(Date.now() - 3_600_000));
  await pause(3_000);
  expect(await measuredAt(satellite.id)).toBeNull();

  // A build finished: the next pass measures.
  await built();
  await expect.poll(() => measuredAt(satellite.id), { timeout: 15_000 }).not.toBeNull();
  const first = (await measuredAt(satellite.id))!.getTime();
  expect((await db.satellite.findUniqueOrThrow({ where: { id: satellite.id } })).cacheBytes).not.toBeNull();

  // No build since: not measured again.
  await pause(3_000);
  expect((await measuredAt(satellite.id))!.getTime()).toBe(first);

  // Another build: measured again.
  await pause(50);
  await built();
  await expect.poll(async () => (await measuredAt(satellite.id))!.getTime(), { timeout: 15_000 }).toBeGreaterThan(first);
});
