// Changing a satellite's size and platform through the real jobs process: on the ec2 provider
// (the real AWS SDK over HTTP against the EC2 emulator) and on the local one. Asleep → updating
// → asleep on the new machine; awake with force → stopping → asleep → updating → asleep; a
// resize whose job was lost is finished by the reconciler.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeHealth } from "@satellites/backend/probe";
import { type CgroupSet, containsPid } from "@satellites/provider/cgroup";
import { fixtureHopProbe } from "@satellites/testing/satellite-tls";
import { defaultLimits, limitColumns, type PlatformName, type SizeName } from "@satellites/catalog";
import type { Db } from "@satellites/db";
import type { Emulator } from "@satellites/ec2-emulator";
import { requestResize, requestSleep, requestWake } from "@satellites/lifecycle";
import { enqueue } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { ec2World } from "./ec2-world.ts";
import { jobsWorld, type JobsWorld } from "./harness.ts";

const historyOf = async (db: Db, id: string) =>
  (await db.satelliteEvent.findMany({ where: { satelliteId: id }, orderBy: { id: "asc" } })).map((e) => `${e.from ?? "∅"}→${e.to}:${e.cause}`);

function helpers(db: () => Db, world: () => JobsWorld, provider: "ec2" | "local") {
  const state = (id: string) => db().satellite.findUniqueOrThrow({ where: { id } });
  const until = (id: string, s: string, timeout = 30_000) => expect.poll(async () => (await state(id)).state, { timeout, interval: 100 }).toBe(s);
  /**
   * The transition into `to`, once it is in the history. For `failed`, which the reconciler ends
   * within one pass when the machine is intact: polling the row's state can miss it.
   */
  const entered = async (id: string, to: "failed", timeout = 30_000) => {
    await expect.poll(() => db().satelliteEvent.count({ where: { satelliteId: id, to } }), { timeout, interval: 100 }).toBeGreaterThan(0);
    return db().satelliteEvent.findFirstOrThrow({ where: { satelliteId: id, to }, orderBy: { id: "desc" } });
  };
  return {
    state,
    until,
    entered,
    async awake(name: string, platform: PlatformName = "amd64", size: SizeName = "small") {
      const org = await makeOrg(db());
      const { satellite } = await createSatellite(db(), {
        orgId: org.id, name, platform, size, provider, actor: "user:bob", hibernate: platform === "amd64",
        ...limitColumns(defaultLimits(size)),
      });
      await enqueue(world().queues, "launch", { satelliteId: satellite.id, version: satellite.version });
      await until(satellite.id, "awake");
      return state(satellite.id);
    },
    async asleep(name: string, platform: PlatformName = "amd64", size: SizeName = "small") {
      const sat = await this.awake(name, platform, size);
      await requestSleep(db(), world().queues, sat, { cause: "manual", actor: "user:bob" });
      await until(sat.id, "asleep");
      return state(sat.id);
    },
  };
}

describe("ec2 provider", () => {
  let emu: Emulator;
  let world: JobsWorld;
  const h = helpers(() => world.db, () => world, "ec2");
  beforeAll(async () => {
    ({ emu, world } = await ec2World({ tiny: true }));
    await world.start();
  });
  afterAll(async () => {
    await world?.close();
    await emu?.close();
  });
  const userData = (instanceId: string) => Buffer.from(emu.control.instance(instanceId)!.userData ?? "", "base64").toString("utf8");

  it("asleep: updating → asleep on the same instance with the new type, limits and history; wakes as the new size", async () => {
    const sat = await h.asleep("grow");
    const instanceId = sat.instanceId!;
    expect(emu.control.instance(instanceId)).toMatchObject({ instanceType: "t3.medium", hibernated: true });

    const r = await requestResize(world.db, world.queues, sat, { size: "large", platform: "amd64", force: false, actor: "user:bob" });
    expect(r).toMatchObject({ kind: "resizing", satellite: { state: "updating", size: "large" } });
    await h.until(sat.id, "asleep");
    const after = await h.state(sat.id);
    // The memory limit was the old size's default, so it follows the size.
    expect(after).toMatchObject({ size: "large", platform: "amd64", instanceId, limitMemoryMiB: defaultLimits("large").memoryMiB, hibernate: true, limitsPending: false });
    expect(emu.control.instance(instanceId)).toMatchObject({ instanceType: "t3.xlarge", state: "stopped", hibernated: false, process: "none" });
    expect(userData(instanceId)).toContain("CPUQuota=380%"); // 95 % of 4 vCPUs
    expect(userData(instanceId)).toContain(`MemoryMax=${defaultLimits("large").memoryMiB}M`);

    const history = await historyOf(world.db, sat.id);
    expect(history.slice(-2)).toEqual(["asleep→updating:manual", "updating→asleep:manual"]);
    const [began, done] = (await world.db.satelliteEvent.findMany({ where: { satelliteId: sat.id }, orderBy: { id: "asc" } })).slice(-2);
    expect(began).toMatchObject({ actor: "user:bob", detail: { size: { from: "small", to: "large" }, platform: { from: "amd64", to: "amd64" } } });
    expect(done).toMatchObject({ actor: "user:bob", detail: { size: "large", platform: "amd64", instanceId } });
    expect(done!.durationMs).toBeGreaterThan(0);

    await requestWake(world.db, world.queues, sat.id, { cause: "manual", actor: "user:bob" });
    await h.until(sat.id, "awake");
    const awake = await h.state(sat.id);
    expect(emu.control.instance(instanceId)).toMatchObject({ instanceType: "t3.xlarge", state: "running" });
    expect(await probeHealth(awake.upstream!, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");
  });

  it("awake + force, new platform: stopping → asleep → updating → asleep on a new arm64 instance, the old one terminated", async () => {
    const sat = await h.awake("switch");
    const old = sat.instanceId!;
    const r = await requestResize(world.db, world.queues, sat, { size: "small", platform: "arm64", force: true, actor: "user:bob" });
    expect(r).toMatchObject({ kind: "resizing", satellite: { state: "stopping" } });
    await expect.poll(async () => (await historyOf(world.db, sat.id)).slice(-4), { timeout: 45_000, interval: 200 }).toEqual([
      "awake→stopping:manual", "stopping→asleep:manual", "asleep→updating:manual", "updating→asleep:manual",
    ]);
    const after = await h.state(sat.id);
    expect(after).toMatchObject({ state: "asleep", size: "small", platform: "arm64", hibernate: false, upstream: null });
    expect(after.instanceId).not.toBe(old);
    expect(emu.control.instance(after.instanceId!)).toMatchObject({ instanceType: "t4g.medium", architecture: "arm64", state: "stopped", tags: { "satellites:id": sat.id } });
    expect(emu.control.instance(old)!.state).toMatch(/shutting-down|terminated/);
    // The stop before a resize does not hibernate (the memory would be thrown away).
    const stopped = await world.db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id, from: "stopping", to: "asleep" }, orderBy: { id: "desc" } });
    expect(stopped.detail).toMatchObject({ hibernated: false });
    const done = await world.db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id, from: "updating" }, orderBy: { id: "desc" } });
    expect(done.detail).toMatchObject({ replacedInstanceId: old, instanceId: after.instanceId });

    await requestWake(world.db, world.queues, sat.id, { cause: "manual", actor: "user:bob" });
    await h.until(sat.id, "awake");
    expect(await probeHealth((await h.state(sat.id)).upstream!, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");
  });

  it("a wake asked for while updating follows as soon as the resize is done", async () => {
    const sat = await h.asleep("eager", "arm64", "xsmall");
    // Slow enough that the wake lands while updating.
    emu.control.setTimings({ stoppingMs: 1500 });
    try {
      await requestResize(world.db, world.queues, sat, { size: "medium", platform: "amd64", force: false, actor: "user:bob" });
      expect(await requestWake(world.db, world.queues, sat.id, { cause: "manual", actor: "user:bob" })).toMatchObject({ kind: "waking", started: false });
      expect((await h.state(sat.id)).wakeRequested).toBe(true);
      await h.until(sat.id, "awake", 45_000);
    } finally {
      emu.control.setTimings({ stoppingMs: 200 });
    }
    const after = await h.state(sat.id);
    expect(after).toMatchObject({ size: "medium", platform: "amd64", wakeRequested: false });
    expect(emu.control.instance(after.instanceId!)).toMatchObject({ instanceType: "t3.large", state: "running" });
    expect((await historyOf(world.db, sat.id)).slice(-4)).toEqual(["asleep→updating:manual", "updating→asleep:manual", "asleep→starting:request", "starting→awake:request"]);
  });

  it("a change EC2 refuses for good: failed with the reason and the old size back, then asleep again as it was", async () => {
    const sat = await h.asleep("refused", "arm64", "xsmall");
    emu.control.failNext({ code: "InvalidInstanceAttributeValue", message: "Modifying the instance type is not allowed.", actions: ["ModifyInstanceAttribute"] });
    await requestResize(world.db, world.queues, sat, { size: "large", platform: "arm64", force: false, actor: "user:bob" });
    // The reason is recorded with the move to failed (the row's failureReason and the event's
    // error are written together), and the old size, platform and memory are put back with it.
    const failure = await h.entered(sat.id, "failed");
    expect(failure.error).toContain("InvalidInstanceAttributeValue");
    expect(emu.control.instance(sat.instanceId!)).toMatchObject({ instanceType: "t4g.small", state: "stopped" });
    // The instance is stopped and intact: the reconciler returns the satellite to asleep.
    await h.until(sat.id, "asleep", 20_000);
    expect(await h.state(sat.id)).toMatchObject({ size: "xsmall", platform: "arm64", limitMemoryMiB: sat.limitMemoryMiB, instanceId: sat.instanceId });
    expect((await historyOf(world.db, sat.id)).slice(-3)).toEqual(["asleep→updating:manual", "updating→failed:failure", "failed→asleep:reconcile"]);
  });

  it("a platform change given up after its new instance was launched: the new instance is terminated, the old one kept", async () => {
    const sat = await h.asleep("abandoned", "amd64", "small");
    const old = sat.instanceId!;
    const before = new Set(emu.control.instances().map((i) => i.instanceId));
    // The new arm64 instance launches, then EC2 refuses (for good) to stop it.
    emu.control.failNext({ code: "UnauthorizedOperation", message: "You are not authorized to perform this operation.", actions: ["StopInstances"] });
    await requestResize(world.db, world.queues, sat, { size: "small", platform: "arm64", force: false, actor: "user:bob" });
    const failure = await h.entered(sat.id, "failed", 45_000);
    expect(failure.error).toContain("UnauthorizedOperation");
    const launched = emu.control.instances().filter((i) => !before.has(i.instanceId) && i.tags["satellites:id"] === sat.id);
    expect(launched).toHaveLength(1);
    expect(launched[0]!.state).toMatch(/shutting-down|terminated/);
    expect(emu.control.instance(old)).toMatchObject({ state: "stopped", architecture: "x86_64" });
    // The old machine is intact: the reconciler returns the satellite to asleep as it was.
    await h.until(sat.id, "asleep", 20_000);
    expect(await h.state(sat.id)).toMatchObject({ platform: "amd64", size: "small", instanceId: old });
  });

  it("the reconciler runs a resize whose job was never enqueued", async () => {
    const sat = await h.asleep("orphan");
    // A process died between committing asleep→updating and enqueuing the job.
    const { beginResize } = await import("@satellites/lifecycle");
    const r = await beginResize(world.db, sat, { size: "xsmall", platform: "amd64" }, "user:bob");
    expect(r.won).toBe(true);
    await h.until(sat.id, "asleep", 20_000);
    const after = await h.state(sat.id);
    expect(after).toMatchObject({ size: "xsmall", instanceId: sat.instanceId });
    expect(emu.control.instance(sat.instanceId!)).toMatchObject({ instanceType: "t3.small", state: "stopped" });
  });
});

describe("local provider", () => {
  let world: JobsWorld;
  const h = helpers(() => world.db, () => world, "local");
  beforeAll(async () => {
    world = await jobsWorld();
    await world.start();
  });
  afterAll(async () => {
    await world?.close();
  });
  const localState = (instanceId: string) => JSON.parse(readFileSync(path.join(world.dataDir, instanceId, "state.json"), "utf8"));

  it("awake + force: the process ends, the instance takes the new spec and limits, and the next wake runs under them", async () => {
    const sat = await h.awake("local-grow", "amd64", "small");
    const instanceId = sat.instanceId!;
    const pid: number = localState(instanceId).pid;
    const r = await requestResize(world.db, world.queues, sat, { size: "medium", platform: "amd64", force: true, actor: "user:bob" });
    expect(r.kind).toBe("resizing");
    await expect.poll(async () => (await historyOf(world.db, sat.id)).slice(-4), { timeout: 30_000, interval: 200 }).toEqual([
      "awake→stopping:manual", "stopping→asleep:manual", "asleep→updating:manual", "updating→asleep:manual",
    ]);
    const after = await h.state(sat.id);
    expect(after).toMatchObject({ state: "asleep", size: "medium", instanceId, limitMemoryMiB: defaultLimits("medium").memoryMiB });
    const local = localState(instanceId);
    expect(local).toMatchObject({ pid: null, desired: "stopped", spec: { size: "medium", limits: { memoryMiB: defaultLimits("medium").memoryMiB } } });
    const mediumBytes = defaultLimits("medium").memoryMiB * 1024 * 1024;
    const memoryLimit = (cg: CgroupSet) => Number(readFileSync(path.join(cg.memory, cg.mode === "v2" ? "memory.max" : "memory.limit_in_bytes"), "utf8"));
    expect(local.cgroup, "the satellite's cgroup").toBeTruthy();
    expect(memoryLimit(local.cgroup)).toBe(mediumBytes);

    await requestWake(world.db, world.queues, sat.id, { cause: "manual", actor: "user:bob" });
    await h.until(sat.id, "awake");
    const woken = localState(instanceId);
    expect(woken.pid).not.toBe(pid);
    // The new process runs in the group, under the new size's limit.
    expect(await containsPid(woken.cgroup, woken.pid)).toBe(true);
    expect(memoryLimit(woken.cgroup)).toBe(mediumBytes);
    expect(await probeHealth((await h.state(sat.id)).upstream!, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");
  });

  it("refuses an awake satellite without force, and states other than asleep/awake", async () => {
    const sat = await h.awake("local-refuse");
    expect(await requestResize(world.db, world.queues, sat, { size: "large", platform: "amd64", force: false, actor: "user:bob" })).toEqual({
      kind: "refused",
      reason: "satellite is awake; put it to sleep first, or use force",
    });
    expect((await h.state(sat.id)).size).toBe("small");
    // Still being created (no launch job here): refused, nothing recorded.
    const org = await makeOrg(world.db);
    const { satellite: creating } = await createSatellite(world.db, { orgId: org.id, name: "local-new", platform: "amd64", size: "small", provider: "local", actor: "user:bob", ...limitColumns(defaultLimits("small")) });
    expect(await requestResize(world.db, world.queues, creating, { size: "large", platform: "amd64", force: true, actor: "user:bob" })).toEqual({
      kind: "refused",
      reason: "cannot change the size while the satellite is creating; try again once it is asleep or awake",
    });
    expect(await historyOf(world.db, creating.id)).toEqual(["∅→creating:launch"]);
    // Nothing to change is refused too.
    expect(await requestResize(world.db, world.queues, sat, { size: "small", platform: "amd64", force: true, actor: "user:bob" })).toMatchObject({ kind: "refused" });
  });
});
