// A BuildKit satellite's cache through the real jobs process: a real build (buildctl, mutual TLS)
// fills it; a measure job stores its size (Control/DiskUsage); a reset asked for while a build is
// recorded as running is refused and says so in the history; a reset then empties it
// (Control/Prune --all) — the stored size drops, the history has the sizes before and after; the
// size is measured again as the satellite goes to sleep. The daemon's log is read from its file.
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Db } from "@satellites/db";
import { requestSleep } from "@satellites/lifecycle";
import { readLocalLogTail } from "@satellites/provider/local-log";
import { requestCache } from "@satellites/queue";
import { makeOrg } from "@satellites/testing";
import { requirePeer } from "@satellites/testing/peers";
import { type BuildctlClient, buildctlClient } from "./buildctl-client.ts";
import { jobsWorld, launchAwake, type JobsWorld } from "./harness.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const MB = 1024 * 1024;
let db: Db;
let world: JobsWorld;
let buildctl = "";
let base = "";
let client: BuildctlClient;

beforeAll(async () => {
  if (!isRoot) return;
  buildctl = requirePeer("buildkit", "buildctl");
  world = await jobsWorld({ LOCAL_BUILDKITD: requirePeer("buildkit", "buildkitd") });
  db = world.db;
  await world.start();
  client = await buildctlClient("cache-bk-", "cache test");
  base = client.dir;
  await mkdir(path.join(base, "ctx"));
  await writeFile(path.join(base, "ctx", "big.bin"), randomBytes(24 * MB));
  await writeFile(path.join(base, "ctx", "Dockerfile"), "FROM scratch\nCOPY big.bin /big.bin\n");
}, 60_000);
afterAll(async () => {
  await world?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });
const resets = (id: string) => db.satelliteEvent.findMany({ where: { satelliteId: id, detail: { path: ["cache"], equals: "reset" } }, orderBy: { id: "asc" } });

it.runIf(isRoot)("measure, reset refused while a build runs, reset empties the cache, measured at sleep; the daemon's log is readable", { timeout: 240_000 }, async () => {
  const org = await makeOrg(db);
  const sat = await launchAwake(world, { orgId: org.id, name: "cache", limits: { diskGiB: 7 } });

  // A real build fills the cache (the context and the COPY result: about twice 24 MB).
  await run(buildctl, [
    ...client.flags(sat.upstream!, sat.id),
    "build", "--frontend", "dockerfile.v0", "--local", `context=${path.join(base, "ctx")}`, "--local", `dockerfile=${path.join(base, "ctx")}`,
  ], { maxBuffer: 16 << 20 });

  await requestCache(world.queues.cache, { satelliteId: sat.id, action: "measure", actor: "user:alice" });
  await expect.poll(async () => (await state(sat.id)).cacheMeasuredAt, { timeout: 30_000 }).not.toBeNull();
  const measured = await state(sat.id);
  expect(Number(measured.cacheBytes)).toBeGreaterThan(24 * MB);
  expect(measured.cacheEntries).toBeGreaterThan(0);

  // A build recorded as running (a proxy wrote it a moment ago): the reset is refused, nothing pruned.
  const buildId = randomUUID();
  await db.build.create({ data: { id: buildId, orgId: org.id, satelliteId: sat.id, actor: "token:t", client: "buildctl", startedAt: new Date(), replica: "proxy-x", seenAt: new Date() } });
  await requestCache(world.queues.cache, { satelliteId: sat.id, action: "reset", actor: "user:alice" });
  await expect.poll(async () => (await resets(sat.id)).length, { timeout: 30_000 }).toBe(1);
  const [refused] = await resets(sat.id);
  expect(refused!.error).toBe("not reset: 1 build was running");
  expect(refused).toMatchObject({ from: "awake", to: "awake", cause: "manual", actor: "user:alice" });
  expect((await state(sat.id)).cacheBytes).toBe(measured.cacheBytes);

  // Finished: the reset goes ahead and the size drops.
  await db.build.update({ where: { id: buildId }, data: { endedAt: new Date(), durationMs: 1, grpcCode: 0 } });
  await requestCache(world.queues.cache, { satelliteId: sat.id, action: "reset", actor: "user:alice" });
  await expect.poll(async () => (await resets(sat.id)).length, { timeout: 60_000 }).toBe(2);
  const done = (await resets(sat.id))[1]!;
  expect(done.error).toBeNull();
  const detail = done.detail as { beforeBytes: number; afterBytes: number; freedBytes: number; removed: number };
  expect(detail.beforeBytes).toBeGreaterThan(24 * MB);
  expect(detail.afterBytes).toBeLessThan(MB);
  expect(detail.freedBytes).toBeGreaterThan(24 * MB);
  expect(detail.removed).toBeGreaterThan(0);
  const after = await state(sat.id);
  expect(Number(after.cacheBytes)).toBe(detail.afterBytes);
  expect(after.state).toBe("awake");

  // The daemon's own output, as the dashboard reads it.
  const tail = await readLocalLogTail(world.dataDir, sat.instanceId!, 64 * 1024);
  expect(tail?.text).toMatch(/buildkit|running server/i);
  expect(await readLocalLogTail(world.dataDir, "../../etc", 1024)).toBeNull();

  // Going to sleep measures the cache again.
  const before = after.cacheMeasuredAt!.getTime();
  await requestSleep(db, world.queues, await state(sat.id), { cause: "manual", actor: "user:alice" });
  await expect.poll(async () => (await state(sat.id)).state, { timeout: 30_000 }).toBe("asleep");
  expect((await state(sat.id)).cacheMeasuredAt!.getTime()).toBeGreaterThan(before);
});
