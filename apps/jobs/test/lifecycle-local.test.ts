// The whole life of a satellite on the local provider, driven through the real jobs process:
// create → awake → idle → asleep → wake → awake → limits change → delete, with real processes,
// real cgroup files and the history a customer will read.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits } from "@satellites/catalog";
import { probeHealth } from "@satellites/backend/probe";
import { fixtureHopProbe } from "@satellites/testing/satellite-tls";
import { processState } from "@satellites/ec2-emulator/testing";
import { requestDelete, requestLimits, requestWake } from "@satellites/lifecycle";
import { Announcements } from "@satellites/db/announcements";
import { ADDRESS_CHANNEL, type AddressHint, followAddressHints } from "@satellites/state";
import type { Db } from "@satellites/db";
import { makeOrg } from "@satellites/testing";
import { jobsWorld, launchAwake, type JobsWorld, type JobsProcess } from "./harness.ts";

let db: Db;
let world: JobsWorld;
let worker: JobsProcess;
beforeAll(async () => {
  world = await jobsWorld();
  db = world.db;
  worker = await world.start();
});
afterAll(async () => {
  await world?.close();
});

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });
const localState = (instanceId: string) => JSON.parse(readFileSync(path.join(world.dataDir, instanceId, "state.json"), "utf8"));
const read = (file: string) => readFileSync(file, "utf8").trim();

it("create → awake → idle sleep → wake → limits → delete", async () => {
  const org = await makeOrg(db);
  const limits = { ...defaultLimits("small"), cpuPercent: 50, memoryMiB: 1024, swapMiB: 512, oomScoreAdj: 300 };
  const satellite = await launchAwake(world, { orgId: org.id, name: "builder", hibernate: true, limits }, 30_000);

  let sat = await state(satellite.id);
  expect(sat.upstream).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(await probeHealth(sat.upstream!, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");
  const local = localState(sat.instanceId!);
  const pid: number = local.pid;
  expect(sat.limitsEnforced).toBe(true);
  // 50 % of the whole machine: quota = 0.5 × CPUs × period.
  const period = Number(read(path.join(local.cgroup.cpu, "cpu.cfs_period_us")));
  expect(Number(read(path.join(local.cgroup.cpu, "cpu.cfs_quota_us")))).toBe(Math.round(0.5 * (await import("node:os")).cpus().length * period));
  expect(Number(read(path.join(local.cgroup.memory, "memory.limit_in_bytes")))).toBe(1024 * 1024 * 1024);
  expect(read(`/proc/${pid}/oom_score_adj`)).toBe("300");
  expect(read(path.join(local.cgroup.cpu, "cgroup.procs")).split("\n")).toContain(String(pid));

  // Idle: last activity long ago → the idle scan puts it to sleep (hibernate = freeze).
  await db.satellite.update({ where: { id: sat.id }, data: { idleTimeoutSeconds: 60, lastActivityAt: new Date(Date.now() - 3600_000) } });
  await expect.poll(async () => (await state(satellite.id)).state, { timeout: 20_000 }).toBe("asleep");
  expect(read(path.join(local.cgroup.freezer!, "freezer.state"))).toBe("FROZEN");

  // Wake: the same process resumes (hibernation keeps memory), and answers again. Its address
  // is announced as it resumes, so that proxies can connect while it is thawed and probed.
  const hints: AddressHint[] = [];
  const hintListener = await Announcements.start(world.env.DATABASE_URL!, [ADDRESS_CHANNEL]);
  followAddressHints(hintListener, (h) => hints.push(h));
  const w = await requestWake(db, world.queues, sat.id, { cause: "manual", actor: "user:alice" });
  expect(w).toMatchObject({ kind: "waking", started: true });
  await expect.poll(async () => (await state(satellite.id)).state, { timeout: 30_000 }).toBe("awake");
  sat = await state(satellite.id);
  await expect.poll(() => hints.filter((h) => h.id === sat.id), { timeout: 5_000 }).toEqual([{ id: sat.id, upstream: sat.upstream }]);
  await hintListener.close();
  expect(localState(sat.instanceId!).pid).toBe(pid);
  expect(processState(pid)).not.toBe("T");
  expect(await probeHealth(sat.upstream!, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");

  // Limits: the local provider applies them live.
  const r = await requestLimits(db, world.queues, sat, { ...limits, cpuPercent: 80, memoryMiB: 2048 });
  expect(r.kind).toBe("saved");
  await expect.poll(async () => (await state(satellite.id)).limitsPending, { timeout: 15_000 }).toBe(false);
  expect(Number(read(path.join(local.cgroup.memory, "memory.limit_in_bytes")))).toBe(2048 * 1024 * 1024);
  expect((await state(satellite.id)).limitsOomScoreEnforced).toBe(true);
  // A negative OOM score needs CAP_SYS_RESOURCE: recorded as applied exactly when the daemon has it.
  await requestLimits(db, world.queues, await state(sat.id), { ...limits, cpuPercent: 80, memoryMiB: 2048, oomScoreAdj: -500 });
  await expect.poll(async () => (await state(satellite.id)).limitsPending, { timeout: 15_000 }).toBe(false);
  expect((await state(satellite.id)).limitsOomScoreEnforced).toBe(read(`/proc/${pid}/oom_score_adj`) === "-500");

  // Delete: refused while awake without force, then terminated for good.
  expect(await requestDelete(db, world.queues, await state(sat.id), { actor: "user:alice" })).toMatchObject({ kind: "refused" });
  expect(await requestDelete(db, world.queues, await state(sat.id), { actor: "user:alice", force: true })).toMatchObject({ kind: "deleting" });
  await expect.poll(async () => (await state(satellite.id)).state, { timeout: 20_000 }).toBe("deleted");
  sat = await state(satellite.id);
  expect(sat.liveName).toBeNull();
  expect(sat.deletedAt).toBeInstanceOf(Date);
  expect(() => process.kill(pid, 0)).toThrow();

  const events = await db.satelliteEvent.findMany({ where: { satelliteId: satellite.id }, orderBy: { id: "asc" } });
  const history = JSON.stringify(events.map((e) => ({ ...e, id: String(e.id) })), null, 1);
  expect(events.map((e) => `${e.from ?? "∅"}→${e.to}:${e.cause}`), history).toEqual([
    "∅→creating:launch",
    "creating→awake:launch",
    "awake→stopping:idle",
    "stopping→asleep:idle",
    "asleep→starting:manual",
    "starting→awake:manual",
    "awake→deleting:delete",
    "deleting→deleted:delete",
  ]);
  // Every completed transition knows how long it took; the idle decision says why.
  for (const e of events.filter((e) => e.from && ["creating", "stopping", "starting", "deleting"].includes(e.from))) expect(e.durationMs).toBeGreaterThanOrEqual(0);
  expect(events.find((e) => e.to === "stopping")?.detail).toMatchObject({ idleTimeoutSeconds: 60 });
  expect(events.find((e) => e.from === "asleep")?.actor).toBe("user:alice");
  await worker.stop();
});
