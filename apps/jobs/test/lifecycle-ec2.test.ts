// The whole life of x86 and arm satellites on the ec2 provider: the real jobs process drives
// the real AWS SDK over HTTP against the EC2 emulator, whose instances are real processes.
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns, type PlatformName } from "@satellites/catalog";
import { probeHealth } from "@satellites/backend/probe";
import { fixtureHopProbe } from "@satellites/testing/satellite-tls";
import type { Emulator } from "@satellites/ec2-emulator";
import { requestDelete, requestLimits, requestSleep, requestWake } from "@satellites/lifecycle";
import { enqueue, jobIdFor } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import type { Db } from "@satellites/db";
import { makeOrg } from "@satellites/testing";
import { ec2World } from "./ec2-world.ts";
import type { JobsWorld } from "./harness.ts";

let db: Db;
let emu: Emulator;
let world: JobsWorld;
beforeAll(async () => {
  ({ emu, world } = await ec2World({ tiny: true }));
  db = world.db;
  await world.start();
});
afterAll(async () => {
  await world?.close();
  await emu?.close();
});

const userData = (instanceId: string) => Buffer.from(emu.control.instance(instanceId)!.userData ?? "", "base64").toString("utf8");
const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });
const until = (id: string, s: string, timeout = 30_000) => expect.poll(async () => (await state(id)).state, { timeout, interval: 100 }).toBe(s);

async function launch(platform: PlatformName) {
  const org = await makeOrg(db);
  const { satellite } = await createSatellite(db, {
    orgId: org.id, name: `ec2-${platform}`, platform, size: "small", provider: "ec2", actor: "user:bob", hibernate: platform === "amd64",
    ...limitColumns({ ...defaultLimits("small"), cpuPercent: 50 }),
  });
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await until(satellite.id, "awake");
  return state(satellite.id);
}

it("x86: hibernates when idle, resumes the same process, applies awake-time limits at the next wake", async () => {
  let sat = await launch("amd64");
  const inst = emu.control.instance(sat.instanceId!)!;
  expect(inst).toMatchObject({ instanceType: "t3.medium", hibernationConfigured: true, state: "running" });
  expect(inst.tags).toMatchObject({ "satellites:id": sat.id });
  expect(userData(sat.instanceId!)).toContain("CPUQuota=100%"); // 50 % of 2 vCPUs
  expect(sat.upstream).toBe(`${inst.privateIp}:${emu.satellitePort}`);
  expect(await probeHealth(sat.upstream!, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");

  await db.satellite.update({ where: { id: sat.id }, data: { idleTimeoutSeconds: 60, lastActivityAt: new Date(Date.now() - 3600_000) } });
  await until(sat.id, "asleep");
  expect(emu.control.instance(sat.instanceId!)).toMatchObject({ state: "stopped", hibernated: true, process: "frozen" });
  const starts = emu.control.instance(sat.instanceId!)!.processStarts;

  await requestWake(db, world.queues, sat.id, { cause: "manual", actor: "user:bob" });
  await until(sat.id, "awake");
  expect(emu.control.instance(sat.instanceId!)!.processStarts).toBe(starts); // resumed, not rebooted

  // Limits while awake: EC2 takes user-data only on a stopped instance → pending.
  sat = await state(sat.id);
  const saved = await requestLimits(db, world.queues, sat, { ...defaultLimits("small"), cpuPercent: 90 });
  expect(saved.kind).toBe("saved");
  // The apply-limits job itself decided (the test wrote limitsPending: true with the save, so
  // the flag alone proves nothing): the provider said EC2 cannot take them on a running machine.
  const applyJob = jobIdFor("applyLimits", { satelliteId: sat.id, version: (await state(sat.id)).limitsVersion });
  await expect.poll(async () => (await world.queues.applyLimits.getJob(applyJob))?.returnvalue, { timeout: 15_000, interval: 100 }).toBe("pending until next wake");
  expect(await state(sat.id)).toMatchObject({ limitsPending: true, limitsAppliedVersion: sat.limitsVersion });
  expect(userData(sat.instanceId!)).toContain("CPUQuota=100%");

  await requestSleep(db, world.queues, await state(sat.id), { cause: "manual", actor: "user:bob" });
  await until(sat.id, "asleep");
  await requestWake(db, world.queues, sat.id, { cause: "manual", actor: "user:bob" });
  await until(sat.id, "awake");
  expect(await state(sat.id)).toMatchObject({ limitsPending: false, limitsAppliedVersion: (await state(sat.id)).limitsVersion });
  expect(userData(sat.instanceId!)).toContain("CPUQuota=180%");

  await requestDelete(db, world.queues, await state(sat.id), { actor: "user:bob", force: true });
  await until(sat.id, "deleted");
  expect(emu.control.instance(sat.instanceId!)!.state).toMatch(/shutting-down|terminated/);

  const events = await db.satelliteEvent.findMany({ where: { satelliteId: sat.id }, orderBy: { id: "asc" } });
  const history = JSON.stringify(events.map((e) => ({ ...e, id: String(e.id) })), null, 1);
  expect(events.map((e) => `${e.from ?? "∅"}→${e.to}:${e.cause}`), history).toEqual([
    "∅→creating:launch", "creating→awake:launch",
    "awake→stopping:idle", "stopping→asleep:idle", "asleep→starting:manual", "starting→awake:manual",
    "awake→stopping:manual", "stopping→asleep:manual", "asleep→starting:manual", "starting→awake:manual",
    "awake→deleting:delete", "deleting→deleted:delete",
  ]);
  for (const e of events.filter((e) => e.from && ["creating", "stopping", "starting", "deleting"].includes(e.from))) expect(e.durationMs).toBeGreaterThan(0);
  expect(events.filter((e) => e.detail && (e.detail as { limitsApplied?: boolean }).limitsApplied)).toHaveLength(1);
});

it("arm64: stops without hibernation", async () => {
  const sat = await launch("arm64");
  expect(emu.control.instance(sat.instanceId!)).toMatchObject({ instanceType: "t4g.medium", hibernationConfigured: false });
  await requestSleep(db, world.queues, sat, { cause: "manual", actor: "user:bob" });
  await until(sat.id, "asleep");
  expect(emu.control.instance(sat.instanceId!)).toMatchObject({ state: "stopped", hibernated: false, process: "none" });
  await requestWake(db, world.queues, sat.id, { cause: "manual", actor: "user:bob" });
  await until(sat.id, "awake");
  expect(await probeHealth((await state(sat.id)).upstream!, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");
});

it("a satellite whose launch failed before it had a machine is launched again when retried", async () => {
  const org = await makeOrg(db);
  const { satellite } = await createSatellite(db, {
    orgId: org.id, name: "ec2-refused", platform: "amd64", size: "small", provider: "ec2", actor: "user:bob", hibernate: true,
    ...limitColumns(defaultLimits("small")),
  });
  emu.control.failNext({ code: "VcpuLimitExceeded", message: "You have requested more vCPU capacity than your current vCPU limit allows", actions: ["RunInstances"] });
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await until(satellite.id, "failed");
  expect(await state(satellite.id)).toMatchObject({ instanceId: null, failureReason: expect.stringContaining("vCPU") });

  // The limit raised, the person retries: a machine is made, not a start of none asked for.
  expect(await requestWake(db, world.queues, satellite.id, { cause: "manual", actor: "user:bob" })).toMatchObject({ kind: "waking", started: true });
  await until(satellite.id, "awake");
  const sat = await state(satellite.id);
  expect(emu.control.instance(sat.instanceId!)).toMatchObject({ state: "running", instanceType: "t3.medium" });
  const history = await db.satelliteEvent.findMany({ where: { satelliteId: satellite.id }, orderBy: { id: "asc" } });
  expect(history.map((e) => `${e.from ?? ""}>${e.to}:${e.cause}`)).toEqual([">creating:launch", "creating>failed:failure", "failed>creating:manual", "creating>awake:launch"]);
});

it("limits EC2 refuses to take (the role may not modify instances) stay pending with the reason shown, not retried in silence", async () => {
  const sat = await launch("amd64");
  await requestSleep(db, world.queues, sat, { cause: "manual", actor: "user:bob" });
  await until(sat.id, "asleep");
  // AWS's own words: they name the operator's account, role and instance, which the
  // satellite's members are not shown.
  const denied =
    "You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/satellites-jobs/i-0abc is not authorized to perform: ec2:ModifyInstanceAttribute on resource: arn:aws:ec2:us-east-1:123456789012:instance/i-0abc because no identity-based policy allows the ec2:ModifyInstanceAttribute action. Encoded authorization failure message: Zm9vYmFy";
  emu.control.failNext({ code: "UnauthorizedOperation", status: 403, actions: ["ModifyInstanceAttribute"], count: 50, message: denied });
  const modifies = () => emu.control.stats().requests.ModifyInstanceAttribute ?? 0;
  const before = modifies();
  try {
    const saved = await requestLimits(db, world.queues, await state(sat.id), { cpuPercent: 70 });
    expect(saved.kind).toBe("saved");
    const version = (await state(sat.id)).limitsVersion;
    await expect.poll(async () => (await state(sat.id)).limitsFailure, { timeout: 15_000, interval: 100 }).toMatch(/not authorized/);
    expect(await state(sat.id)).toMatchObject({ limitsPending: true, limitsFailedVersion: version });
    const said = (await state(sat.id)).limitsFailure!;
    expect(said).toMatch(/not authorized to perform: ec2:ModifyInstanceAttribute/);
    expect(said).not.toMatch(/123456789012|satellites-jobs|Encoded|Zm9vYmFy/);
    // Given up at once (a permanent error), not after eight attempts.
    await new Promise((r) => setTimeout(r, 2000));
    expect(modifies() - before).toBeLessThanOrEqual(2);
    const event = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id, cause: "limits" }, orderBy: { id: "desc" } });
    expect(event).toMatchObject({ from: "asleep", to: "asleep" });
    expect(event.error).toMatch(/limits not applied: .*not authorized/);
    // The satellite still wakes (with the limits it had): its start does not try them again.
    await requestWake(db, world.queues, sat.id, { cause: "manual", actor: "user:bob" });
    await until(sat.id, "awake");
    expect(await state(sat.id)).toMatchObject({ limitsPending: true, limitsFailedVersion: version });
    expect(modifies() - before).toBeLessThanOrEqual(2);
    await requestSleep(db, world.queues, await state(sat.id), { cause: "manual", actor: "user:bob" });
    await until(sat.id, "asleep");
  } finally {
    emu.control.reset();
  }
  // Allowed again, "Try again" (a save of no change) applies them.
  await requestLimits(db, world.queues, await state(sat.id), {});
  await expect.poll(async () => (await state(sat.id)).limitsPending, { timeout: 15_000, interval: 100 }).toBe(false);
  expect(userData(sat.instanceId!)).toContain("CPUQuota=140%");
});
