// Lifecycle bugs of issue 16 and the sleep/activity/death fixes of issue 14, each through the
// real jobs process on the local provider (real processes, real Postgres and Redis): limits
// saved mid-launch or amid activity are not lost, a duplicate launch never terminates the
// winner's machine, `failed` stays failed with its machine stopped, an address change is
// announced, a manual sleep right after a build waits out the proxy's lingering lease, a
// crashed satellite process is failed with its reason within seconds, orphans are swept.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { probeHealth } from "@satellites/backend/probe";
import { loadOrCreateCa } from "@satellites/pki";
import { fixtureHopProbe, processCaDir } from "@satellites/testing/satellite-tls";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import type { Db } from "@satellites/db";
import { requestLimits, requestSleep, requestWake } from "@satellites/lifecycle";
import { createLocalProvider } from "@satellites/provider/local";
import { enqueue, holdLease } from "@satellites/queue";
import { createSatellite, type StateChange, StateWatcher, transition } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { stopFailedMachine } from "../src/failure.ts";
import { jobsWorld, type JobsWorld, TINY_HEALTH } from "./harness.ts";

let db: Db;
let world: JobsWorld;
let jobs: Awaited<ReturnType<JobsWorld["start"]>>;
beforeAll(async () => {
  // A satellite that takes a moment to answer its health check: the window in which a user
  // saves limits while the machine is being built.
  const slow = path.join(mkdtempSync(path.join(tmpdir(), "slow-health-")), "slow-health.sh");
  writeFileSync(slow, `sleep 1.5\nexec ${TINY_HEALTH.replace(/ --host.*$/, "")} "$@"\n`);
  world = await jobsWorld({ LOCAL_SATELLITE_COMMAND: `/bin/sh ${slow} --host {host} --port {port} --tls-ca {tlsCa} --tls-cert {tlsCert} --tls-key {tlsKey}`, ORPHAN_GRACE_SECONDS: "0" });
  db = world.db;
  jobs = await world.start();
});
afterAll(async () => {
  await world?.close();
});

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });
const until = (id: string, s: string, timeout = 30_000) => expect.poll(async () => (await state(id)).state, { timeout, interval: 100 }).toBe(s);
const localState = (instanceId: string) => JSON.parse(readFileSync(path.join(world.dataDir, instanceId, "state.json"), "utf8"));
const historyOf = async (id: string) => (await db.satelliteEvent.findMany({ where: { satelliteId: id }, orderBy: { id: "asc" } })).map((e) => `${e.from ?? "∅"}→${e.to}:${e.cause}`);

async function create(name: string, hibernate = true) {
  const org = await makeOrg(db);
  const { satellite } = await createSatellite(db, {
    orgId: org.id, name, platform: "amd64", size: "small", provider: "local", actor: "user:bob", hibernate,
    ...limitColumns(defaultLimits("small")),
  });
  return satellite;
}

async function awake(name: string, hibernate = true) {
  const satellite = await create(name, hibernate);
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await until(satellite.id, "awake");
  return state(satellite.id);
}

it("limits saved while the satellite is being created reach the machine", async () => {
  const sat = await create("mid-launch");
  await enqueue(world.queues, "launch", { satelliteId: sat.id, version: sat.version });
  // The machine exists (its id recorded) but is not awake yet: the user saves new limits.
  await expect.poll(async () => (await state(sat.id)).instanceId, { timeout: 20_000, interval: 50 }).toBeTruthy();
  expect((await state(sat.id)).state).toBe("creating");
  expect((await requestLimits(db, world.queues, await state(sat.id), { ...defaultLimits("small"), cpuPercent: 50 })).kind).toBe("saved");
  await until(sat.id, "awake");
  const after = await state(sat.id);
  // The machine runs what the row says, and the flag says so only once it is true.
  await expect.poll(() => localState(after.instanceId!).limits.cpuPercent, { timeout: 10_000 }).toBe(50);
  await expect.poll(async () => (await state(sat.id)).limitsPending, { timeout: 10_000 }).toBe(false);
  expect((await state(sat.id)).limitsAppliedVersion).toBe((await state(sat.id)).limitsVersion);
});

it("limits saved while the satellite wakes reach the machine once it is awake", async () => {
  // Not hibernated: the wake starts a new process, which takes its slow health check to answer.
  const sat = await awake("mid-wake", false);
  await requestSleep(db, world.queues, sat, { cause: "manual", actor: "user:bob" });
  await until(sat.id, "asleep");
  expect((await requestWake(db, world.queues, sat.id, { cause: "manual", actor: "user:bob" })).kind).not.toBe("unavailable");
  await until(sat.id, "starting");
  // The wake job has read the row already: these limits are newer than what it starts with.
  await new Promise((r) => setTimeout(r, 300));
  expect((await requestLimits(db, world.queues, await state(sat.id), { ...defaultLimits("small"), cpuPercent: 40 })).kind).toBe("saved");
  expect((await state(sat.id)).state).toBe("starting");
  await until(sat.id, "awake");
  const after = await state(sat.id);
  await expect.poll(() => localState(after.instanceId!).limits.cpuPercent, { timeout: 10_000 }).toBe(40);
  await expect.poll(async () => (await state(sat.id)).limitsPending, { timeout: 10_000 }).toBe(false);
});

// Limits commit first and their job is queued after: a web process killed (or Redis away)
// between the two left them saved, audited and pending with no job, until the next wake.
it("limits saved whose job was never queued are applied by the reconciler", async () => {
  const sat = await awake("no-job");
  await db.satellite.update({ where: { id: sat.id }, data: { limitCpuPercent: 35, limitsPending: true, limitsVersion: { increment: 1 } } });
  await expect.poll(() => localState(sat.instanceId!).limits.cpuPercent, { timeout: 15_000 }).toBe(35);
  await expect.poll(async () => (await state(sat.id)).limitsPending, { timeout: 10_000 }).toBe(false);
  // A check (what the proxy asks for when a satellite is unreachable) repairs something too.
  await db.satellite.update({ where: { id: sat.id }, data: { upstream: "127.0.0.1:1" } });
  await enqueue(world.queues, "check", { satelliteId: sat.id, version: (await state(sat.id)).version });
  // Counted by kind and outcome: neither a satellite's id nor a version becomes a label of its
  // own (a series each, for good, in every scrape).
  const metrics = async () => (await fetch(`http://127.0.0.1:${jobs.adminPort}/metrics`)).text();
  await expect.poll(metrics, { timeout: 15_000 }).toMatch(/satellites_reconcile_repairs_total\{kind="limits had no job"\}/);
  await expect.poll(metrics, { timeout: 15_000 }).toMatch(/satellites_jobs_total\{queue="check",outcome="[a-z]+"\}/);
  const text = await metrics();
  expect(text).not.toContain(sat.id);
  expect(text).not.toMatch(/kind="limits \d+/);
});

it("limits applied while calls keep writing activity are not reported superseded", async () => {
  const sat = await awake("busy-limits");
  let writing = true;
  const activity = (async () => {
    while (writing) {
      await db.satellite.update({ where: { id: sat.id }, data: { lastActivityAt: new Date() } });
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    expect((await requestLimits(db, world.queues, sat, { ...defaultLimits("small"), cpuPercent: 60 })).kind).toBe("saved");
    await expect.poll(async () => (await state(sat.id)).limitsPending, { timeout: 10_000 }).toBe(false);
  } finally {
    writing = false;
    await activity;
  }
  expect(localState(sat.instanceId!).limits.cpuPercent).toBe(60);
});

it("a duplicate launch job shares the machine instead of terminating it", async () => {
  const sat = await create("twins");
  // BullMQ re-runs a stalled job while the first copy still works: two copies at once.
  await Promise.all([
    world.queues.launch.add("launch", { satelliteId: sat.id, version: sat.version }, { jobId: `launch-${sat.id}-twin-a` }),
    world.queues.launch.add("launch", { satelliteId: sat.id, version: sat.version }, { jobId: `launch-${sat.id}-twin-b` }),
  ]);
  await until(sat.id, "awake");
  // Both copies are done before we judge.
  await expect.poll(async () => (await world.queues.launch.getJobCounts("active", "waiting")).active, { timeout: 20_000 }).toBe(0);
  const after = await state(sat.id);
  expect(localState(after.instanceId!).desired).toBe("running");
  expect(await probeHealth(after.upstream!, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");
});

it("failed stays failed (reason kept) across reconcile passes, and its machine is stopped", async () => {
  const sat = await awake("stays-failed");
  const r = await transition(db, { satellite: sat, to: "failed", cause: "failure", actor: "system", error: "capacity", set: { failureReason: "InsufficientInstanceCapacity" } });
  expect(r.won).toBe(true);
  await expect.poll(() => localState(sat.instanceId!).desired, { timeout: 15_000 }).toBe("stopped");
  // Two more reconcile periods (2 s each in this world).
  await new Promise((r) => setTimeout(r, 4_500));
  expect(await state(sat.id)).toMatchObject({ state: "failed", failureReason: "InsufficientInstanceCapacity" });
});

it("an upstream address change is announced", async () => {
  const sat = await awake("moved");
  const heard: StateChange[] = [];
  const listener = await StateWatcher.start(world.env.DATABASE_URL!);
  listener.subscribe((c) => {
    if (c.id === sat.id) heard.push(c);
  });
  try {
    // The row points elsewhere than the provider says (as after a provider-side move).
    await db.$executeRaw`UPDATE satellite SET upstream = '127.0.0.1:1', "reconciledAt" = NULL WHERE id = ${sat.id}`;
    await expect.poll(() => heard.find((c) => c.upstream === sat.upstream), { timeout: 15_000 }).toBeTruthy();
    expect((await state(sat.id)).upstream).toBe(sat.upstream);
  } finally {
    await listener.close();
  }
});

it("a manual sleep right after a build waits out the lingering lease, then sleeps", async () => {
  const sat = await awake("after-build");
  // The proxy's lease lingers a few seconds after the last call closed (no call open).
  await holdLease(world.redis, sat.id, "proxy-test", 3_000, false);
  await requestSleep(db, world.queues, sat, { cause: "manual", actor: "user:bob" });
  await until(sat.id, "asleep", 15_000);
  expect((await historyOf(sat.id)).slice(-2)).toEqual(["awake→stopping:manual", "stopping→asleep:manual"]);
});

it("a sleep with a call open keeps the satellite awake", async () => {
  const sat = await awake("call-open");
  await holdLease(world.redis, sat.id, "proxy-test", 15_000, true);
  await requestSleep(db, world.queues, sat, { cause: "manual", actor: "user:bob" });
  await expect.poll(async () => (await historyOf(sat.id)).at(-1), { timeout: 15_000 }).toBe("stopping→awake:request");
  await world.redis.del(`satellites:leases:${sat.id}`, `satellites:streams:${sat.id}`);
});

it("a call that ends just as the sleep looks (its end reported a moment later) does not keep the satellite awake", async () => {
  const sat = await awake("call-ending");
  // A proxy's last call is open as the sleep is asked for…
  await holdLease(world.redis, sat.id, "proxy-test", 3_000, true);
  await requestSleep(db, world.queues, sat, { cause: "manual", actor: "user:bob" });
  // …and its end is written 400 ms later (a proxy reports it STREAM_SETTLE_MS late, more when
  // busy); the lease then lingers. The sleep waits it out instead of refusing.
  await new Promise((r) => setTimeout(r, 400));
  await holdLease(world.redis, sat.id, "proxy-test", 3_000, false);
  await until(sat.id, "asleep", 15_000);
  expect((await historyOf(sat.id)).slice(-2)).toEqual(["awake→stopping:manual", "stopping→asleep:manual"]);
});

it("a satellite whose process dies is failed with the reason within seconds", async () => {
  const sat = await awake("crashes");
  const pid: number = localState(sat.instanceId!).pid;
  const killedAt = Date.now();
  process.kill(pid, "SIGKILL");
  await until(sat.id, "failed", 10_000);
  expect(Date.now() - killedAt).toBeLessThan(10_000);
  const after = await state(sat.id);
  expect(after.failureReason).toMatch(/exited/);
  const last = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id }, orderBy: { id: "desc" } });
  expect(last).toMatchObject({ from: "awake", to: "failed", cause: "reconcile" });
  expect(last.error).toMatch(/exited/);
  // Its machine is stopped as any failed satellite's is: not left "running" for the watch to
  // report dead every second, each report a check job, until someone retries or deletes it.
  await expect.poll(() => localState(sat.instanceId!).desired, { timeout: 10_000 }).toBe("stopped");
  expect(await state(sat.id)).toMatchObject({ state: "failed", failureReason: after.failureReason });
});

it("a failed satellite's machine is not stopped once a retry has moved the satellite on", async () => {
  // The reconciler read it failed with its machine running; a person's retry won meanwhile.
  const sat = await awake("retried-meanwhile");
  const provider = createLocalProvider({ dataDir: world.dataDir, cgroupParent: world.cgroupParent, command: TINY_HEALTH, ca: await loadOrCreateCa(processCaDir()) });
  const log = { warn: () => {} } as unknown as Parameters<typeof stopFailedMachine>[0]["log"];
  await stopFailedMachine({ provider, log, db }, { ...sat, version: sat.version - 1 });
  expect(await provider.describe(sat.instanceId!)).toMatchObject({ state: "running" });
  expect(localState(sat.instanceId!).desired).toBe("running");
  await provider.close?.();
});

it("an instance tagged as a satellite's that no live satellite names is terminated", async () => {
  // A machine left by a launch whose satellite is gone (deleted before its id was recorded).
  const provider = createLocalProvider({ dataDir: world.dataDir, cgroupParent: world.cgroupParent, command: TINY_HEALTH, ca: await loadOrCreateCa(processCaDir()) });
  const orphan = await provider.launch({ satelliteId: "00000000-0000-4000-8000-000000000000", orgId: "gone", name: "orphan", platform: "amd64", size: "small", limits: defaultLimits("small"), hibernate: false });
  await expect.poll(async () => (await provider.describe(orphan.instanceId)).state, { timeout: 15_000 }).toMatch(/terminated|missing/);
  await provider.close?.();
});
