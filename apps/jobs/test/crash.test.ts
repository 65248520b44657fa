// kill -9 the jobs worker in the middle of a wake and in the middle of a sleep; a new worker
// process (and the reconciler) must leave every satellite stable and consistent with its
// instance within two reconcile periods.
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import type { Emulator } from "@satellites/ec2-emulator";
import { eventually } from "@satellites/ec2-emulator/testing";
import { requestSleep, requestWake } from "@satellites/lifecycle";
import { enqueue } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import type { Db } from "@satellites/db";
import { makeOrg } from "@satellites/testing";
import { ec2World } from "./ec2-world.ts";
import type { JobsWorld } from "./harness.ts";

const RECONCILE_MS = 8000;
let db: Db;
let emu: Emulator;
let world: JobsWorld;
beforeAll(async () => {
  ({ emu, world } = await ec2World({ tiny: true, env: { RECONCILE_EVERY_MS: String(RECONCILE_MS), JOBS_LOCK_MS: "3000" } }));
  db = world.db;
});
afterAll(async () => {
  await world?.close();
  await emu?.close();
});

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });

it("a worker killed mid-wake and mid-sleep leaves nothing stuck", async () => {
  let worker = await world.start();
  const org = await makeOrg(db);
  const make = async (name: string) => {
    const { satellite } = await createSatellite(db, { orgId: org.id, name, platform: "amd64", size: "small", provider: "ec2", actor: "system", hibernate: true, ...limitColumns(defaultLimits("small")) });
    await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
    return satellite.id;
  };
  const waking = await make("waking");
  const sleeping = await make("sleeping");
  for (const id of [waking, sleeping]) await expect.poll(async () => (await state(id)).state, { timeout: 30_000 }).toBe("awake");
  await requestSleep(db, world.queues, await state(waking), { cause: "manual", actor: "system" });
  await expect.poll(async () => (await state(waking)).state, { timeout: 30_000 }).toBe("asleep");

  // Make both provider calls slow enough to kill the worker inside them.
  emu.control.setInstanceFaults("*", { extraStartDelayMs: 4000 });
  emu.control.setTimings({ stoppingMs: 4000 });
  await requestWake(db, world.queues, waking, { cause: "request", actor: "token:t" });
  await requestSleep(db, world.queues, await state(sleeping), { cause: "manual", actor: "system" });
  const wInstance = (await state(waking)).instanceId!;
  const sInstance = (await state(sleeping)).instanceId!;
  await eventually(() => emu.control.instance(wInstance)?.state === "pending" && emu.control.instance(sInstance)?.state === "stopping", 15_000, "both provider calls in flight");
  expect((await state(waking)).state).toBe("starting");
  expect((await state(sleeping)).state).toBe("stopping");
  await worker.kill9();
  const killedAt = Date.now();

  emu.control.setInstanceFaults("*", null);
  emu.control.setTimings({ stoppingMs: 200 });
  worker = await world.start();
  await expect
    .poll(async () => [(await state(waking)).state, (await state(sleeping)).state], { timeout: 2 * RECONCILE_MS, interval: 200 })
    .toEqual(["awake", "asleep"]);
  const recoveredMs = Date.now() - killedAt;
  expect(recoveredMs).toBeLessThan(2 * RECONCILE_MS);
  // Consistent with the instances, and with a complete history.
  expect(emu.control.instance(wInstance)!.state).toBe("running");
  expect(["stopped"]).toContain(emu.control.instance(sInstance)!.state);
  for (const id of [waking, sleeping]) {
    const events = await db.satelliteEvent.findMany({ where: { satelliteId: id }, orderBy: { id: "asc" } });
    for (let i = 1; i < events.length; i++) expect(events[i]!.from).toBe(events[i - 1]!.to);
    expect(events.at(-1)!.to).toBe((await state(id)).state);
  }
  await worker.stop();
});

it("the reconciler finishes a wake whose job was never enqueued and records drift made outside the product", async () => {
  const worker = await world.start();
  const org = await makeOrg(db);
  const ids: string[] = [];
  for (const name of ["orphan", "drifted"]) {
    const { satellite } = await createSatellite(db, { orgId: org.id, name, platform: "arm64", size: "xsmall", provider: "ec2", actor: "system", ...limitColumns(defaultLimits("xsmall")) });
    await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
    ids.push(satellite.id);
  }
  const [orphan, drifted] = ids as [string, string];
  for (const id of ids) await expect.poll(async () => (await state(id)).state, { timeout: 30_000 }).toBe("awake");
  await requestSleep(db, world.queues, await state(orphan), { cause: "manual", actor: "system" });
  await expect.poll(async () => (await state(orphan)).state, { timeout: 30_000 }).toBe("asleep");

  // A process died between committing asleep→starting and enqueuing the wake job.
  const { transition } = await import("@satellites/state");
  await transition(db, { satellite: await state(orphan), to: "starting", cause: "request", actor: "token:t" });
  // Someone stopped an instance in the AWS console.
  const { StopInstancesCommand } = await import("@aws-sdk/client-ec2");
  const { ec2Client } = await import("@satellites/ec2-emulator/testing");
  await ec2Client(emu.endpoint).send(new StopInstancesCommand({ InstanceIds: [(await state(drifted)).instanceId!] }));

  await expect
    .poll(async () => [(await state(orphan)).state, (await state(drifted)).state], { timeout: 2 * RECONCILE_MS + 5000, interval: 250 })
    .toEqual(["awake", "asleep"]);
  const repairs = await db.satelliteEvent.findMany({ where: { satelliteId: { in: ids }, cause: "reconcile" } });
  expect(repairs.map((e) => `${e.from}→${e.to}`).sort()).toContain("awake→asleep");
  expect(repairs.find((e) => e.satelliteId === drifted)?.detail).toMatchObject({ repair: "instance was stopped outside the product" });
  await worker.stop();
});
