// Builds against an asleep BuildKit satellite, as deployed: the jobs worker (LOCAL_BUILDKITD),
// the proxy process (mutual TLS to the satellite), and unmodified buildctl behind the metadata
// forwarder, and BuildKit's Go client sending the metadata itself. Five concurrent builds wake it
// exactly once and all produce the same output; so does one Go client build.
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { requestDelete, requestSleep } from "@satellites/lifecycle";
import { createQueues, enqueue, redisConnection, type SatelliteQueues } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import type { Db } from "@satellites/db";
import { startMetadataForwarder, type Forwarder } from "@satellites/testing/metadata-forwarder";
import { goBuild } from "@satellites/testing/buildkit-client";
import { requirePeer } from "@satellites/testing/peers";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { dropQueueKeys, makeToken, uniquePrefix } from "./helpers.ts";
import { ownDatabase, startJobsProcess, startProxyProcess, until, type Proc } from "./processes.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
let own: Awaited<ReturnType<typeof ownDatabase>>;
let db: Db;
let redis: Redis;
let queues: SatelliteQueues;
let jobs: Proc | undefined;
let proxy: (Proc & { port: number }) | undefined;
let forwarder: Forwarder | undefined;
let base = "";
let satId = "";
let goSatellite = { name: "", org: "", token: "" };
/** sha256 of the RUN build's output file, as the buildctl builds produced it. */
let expectedN = "";
const prefix = uniquePrefix();
const cgroupParent = `satellites-test-bkwake-${process.pid}`;

beforeAll(async () => {
  if (!isRoot) return;
  const buildkitd = requirePeer("buildkit", "buildkitd");
  base = await mkdtemp(join(tmpdir(), "bkwake-"));
  own = await ownDatabase();
  db = own.db;
  redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  queues = createQueues(redis, prefix);
  const env = { DATABASE_URL: own.url, QUEUE_PREFIX: prefix };
  jobs = await startJobsProcess({ ...env, LOCAL_DATA_DIR: join(base, "data"), LOCAL_CGROUP_PARENT: cgroupParent, LOCAL_BUILDKITD: buildkitd, IDLE_SCAN_EVERY_MS: "300", IDLE_MIN_SECONDS: "0" });
  proxy = await startProxyProcess(env);
  const orgId = crypto.randomUUID();
  await db.organization.create({ data: { id: orgId, name: "bkwake", slug: `bkwake-${orgId.slice(0, 8)}` } });
  const { token } = await makeToken(db, orgId);
  const { satellite } = await createSatellite(db, { orgId, name: "bk-wake", platform: "amd64", size: "small", provider: "local", actor: "system", limitMemoryMiB: 2048 });
  satId = satellite.id;
  await enqueue(queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await until("awake", async () => (await db.satellite.findUniqueOrThrow({ where: { id: satId } })).state === "awake", 60_000);
  forwarder = await startMetadataForwarder(`127.0.0.1:${proxy.port}`, { satellite_name: satellite.name, satellite_org: orgId, satellite_token: token });
  goSatellite = { name: satellite.name, org: orgId, token };
  const ctx = join(base, "ctx");
  await mkdir(ctx, { recursive: true });
  await copyFile("/usr/bin/busybox", join(ctx, "busybox"));
  await writeFile(join(ctx, "Dockerfile"), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox seq 1 5000 > /n"]\n');
}, 180_000);

afterAll(async () => {
  if (satId) {
    const sat = await db.satellite.findUnique({ where: { id: satId } });
    if (sat && sat.state !== "deleted") await requestDelete(db, queues, sat, { actor: "system", force: true }).catch(() => {});
    await until("deleted", async () => (await db.satellite.findUniqueOrThrow({ where: { id: satId } })).state === "deleted", 30_000).catch(() => {});
  }
  await forwarder?.close();
  await proxy?.stop();
  await jobs?.stop();
  await queues?.close();
  redis?.disconnect();
  await dropQueueKeys(prefix);
  await own?.drop();
  for (const h of ["cpu", "memory", "freezer", "pids"]) await run("rmdir", [`/sys/fs/cgroup/${h}/${cgroupParent}`]).catch(() => {});
  if (base) await rm(base, { recursive: true, force: true });
}, 120_000);

it.runIf(isRoot)("5 concurrent builds against an asleep BuildKit satellite: one wake, all succeed with identical outputs", { timeout: 180_000 }, async () => {
  const buildctl = requirePeer("buildkit", "buildctl");
  await requestSleep(db, queues, await db.satellite.findUniqueOrThrow({ where: { id: satId } }), { cause: "manual", actor: "system" });
  await until("asleep", async () => (await db.satellite.findUniqueOrThrow({ where: { id: satId } })).state === "asleep", 30_000);
  const outs = await Promise.all(
    [0, 1, 2, 3, 4].map(async (i) => {
      const out = join(base, `out-${i}`);
      const ctx = join(base, "ctx");
      await run(buildctl, ["--addr", `tcp://${forwarder!.address}`, "build", "--frontend", "dockerfile.v0", "--local", `context=${ctx}`, "--local", `dockerfile=${ctx}`, "--output", `type=local,dest=${out}`], { maxBuffer: 64 << 20 });
      return createHash("sha256").update(await readFile(join(out, "n"))).digest("hex");
    }),
  );
  expect(new Set(outs).size).toBe(1);
  expectedN = outs[0]!;
  expect(await db.satelliteEvent.count({ where: { satelliteId: satId, from: "asleep", to: "starting" } })).toBe(1);
  expect((await db.satellite.findUniqueOrThrow({ where: { id: satId } })).state).toBe("awake");
  // Each build's record says how long it waited for that wake, which its duration leaves out:
  // at least the satellite's own start, at most the wake from asking to awake plus a moment.
  const wake = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: satId, from: "asleep", to: "starting" } });
  const awake = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: satId, from: "starting", to: "awake" } });
  const wakeMs = awake.startedAt.getTime() - wake.startedAt.getTime();
  const rows = await until("5 builds recorded", async () => {
    const r = await db.build.findMany({ where: { satelliteId: satId, endedAt: { not: null } } });
    return r.length === 5 ? r : undefined;
  }, 20_000);
  for (const r of rows) {
    expect(r.grpcCode).toBe(0);
    expect(r.wakeWaitMs, "each build waited for the wake").toBeGreaterThan(0);
    expect(r.wakeWaitMs!).toBeLessThan(wakeMs + 5_000);
  }
  console.log(`wake ${wakeMs} ms; builds waited ${rows.map((r) => r.wakeWaitMs).join(", ")} ms`);
  // A build on the awake satellite did not wait.
  const out = join(base, "out-awake");
  await run(buildctl, ["--addr", `tcp://${forwarder!.address}`, "build", "--frontend", "dockerfile.v0", "--local", `context=${join(base, "ctx")}`, "--local", `dockerfile=${join(base, "ctx")}`, "--output", `type=local,dest=${out}`], { maxBuffer: 64 << 20 });
  const awakeBuild = await until("the build on the awake satellite recorded", async () => {
    const r = await db.build.findMany({ where: { satelliteId: satId, endedAt: { not: null } }, orderBy: { startedAt: "desc" } });
    return r.length === 6 ? r[0] : undefined;
  }, 20_000);
  expect(awakeBuild.wakeWaitMs).toBeNull();
});

it.runIf(isRoot)("BuildKit's Go client (metadata from its own interceptor) against the asleep satellite: one wake, the same output", { timeout: 120_000 }, async () => {
  await requestSleep(db, queues, await db.satellite.findUniqueOrThrow({ where: { id: satId } }), { cause: "manual", actor: "system" });
  await until("asleep", async () => (await db.satellite.findUniqueOrThrow({ where: { id: satId } })).state === "asleep", 30_000);
  const wakes = () => db.satelliteEvent.count({ where: { satelliteId: satId, from: "asleep", to: "starting" } });
  const before = await wakes();
  const since = new Date();
  const out = join(base, "out-go");
  const timing = await goBuild({ addr: `tcp://127.0.0.1:${proxy!.port}`, satellite: goSatellite, context: join(base, "ctx"), output: out });
  expect(timing.first_response_ms).toBeGreaterThan(0);
  expect(createHash("sha256").update(await readFile(join(out, "n"))).digest("hex")).toBe(expectedN);
  expect(await wakes()).toBe(before + 1);
  expect((await db.satellite.findUniqueOrThrow({ where: { id: satId } })).state).toBe("awake");
  const row = await until("the Go client's build recorded", async () => (await db.build.findFirst({ where: { satelliteId: satId, endedAt: { not: null }, startedAt: { gte: since } }, orderBy: { startedAt: "desc" } })) ?? undefined, 20_000);
  expect(row.wakeWaitMs, "the build waited for the wake").toBeGreaterThan(0);
});

it.runIf(isRoot)("a RUN step longer than the idle timeout is never cut; the satellite sleeps after the timeout has passed since the build ended, within 15 s", { timeout: 180_000 }, async () => {
  const buildctl = requirePeer("buildkit", "buildctl");
  const sat = await db.satellite.findUniqueOrThrow({ where: { id: satId } });
  expect(sat.state).toBe("awake");
  const idleS = 4;
  await db.satellite.update({ where: { id: satId }, data: { idleTimeoutSeconds: idleS } });
  const ctx = join(base, "ctx-sleep");
  await mkdir(ctx, { recursive: true });
  await copyFile("/usr/bin/busybox", join(ctx, "busybox"));
  // Sleeps twice the idle timeout inside one RUN step: only the open build stream keeps it awake.
  await writeFile(join(ctx, "Dockerfile"), `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox sleep ${idleS * 2}; /bin/busybox echo slept > /done"]\n`);
  const out = join(base, "out-sleep");
  // Watch the state all along: any moment out of awake while the build runs would be a cut.
  const seen: Array<{ t: number; state: string }> = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      seen.push({ t: Date.now(), state: (await db.satellite.findUniqueOrThrow({ where: { id: satId } })).state });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await run(buildctl, ["--addr", `tcp://${forwarder!.address}`, "build", "--frontend", "dockerfile.v0", "--local", `context=${ctx}`, "--local", `dockerfile=${ctx}`, "--output", `type=local,dest=${out}`], { maxBuffer: 64 << 20 });
  const ended = Date.now();
  expect((await readFile(join(out, "done"), "utf8")).trim()).toBe("slept");
  await until("asleep", async () => (await db.satellite.findUniqueOrThrow({ where: { id: satId } })).state === "asleep", 40_000);
  watching = false;
  await watcher;
  expect(seen.filter((x) => x.t <= ended && x.state !== "awake")).toEqual([]);
  // When it went out of awake, from its history: the watcher can miss a stop that is over between
  // two of its reads (freezing a local satellite takes milliseconds), and `until` may see asleep first.
  const slept = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: satId, from: "awake", to: "stopping" }, orderBy: { id: "desc" } });
  expect(slept.cause).toBe("idle");
  const after = slept.finishedAt.getTime() - ended;
  // Not before the idle timeout has passed since the build ended; within 15 s after that.
  expect(after).toBeGreaterThanOrEqual(idleS * 1000 - 500);
  expect(after).toBeLessThan(idleS * 1000 + 15_000);
});
