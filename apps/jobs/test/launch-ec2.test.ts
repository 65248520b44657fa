// Launches on the ec2 provider (the real jobs process, the real AWS SDK, the EC2 emulator):
// the instance id is recorded right after RunInstances, so nothing leaks and nothing is
// terminated by mistake — a duplicate launch job shares the machine, a satellite deleted after
// a failed launch takes its instance with it, limits changed between attempts do not meet
// IdempotentParameterMismatch.
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import type { Db } from "@satellites/db";
import type { Emulator } from "@satellites/ec2-emulator";
import { requestDelete, requestLimits } from "@satellites/lifecycle";
import { enqueue } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { ec2World } from "./ec2-world.ts";
import type { JobsProcess, JobsWorld } from "./harness.ts";

let db: Db;
let emu: Emulator;
let world: JobsWorld;
let worker: JobsProcess;
beforeAll(async () => {
  ({ emu, world } = await ec2World({ tiny: true, env: { JOBS_LOCK_MS: "3000" } }));
  db = world.db;
  worker = await world.start();
});
afterAll(async () => {
  await world?.close();
  await emu?.close();
});

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });
const until = (id: string, s: string, timeout = 30_000) => expect.poll(async () => (await state(id)).state, { timeout, interval: 100 }).toBe(s);
const instancesOf = (id: string) => emu.control.instances().filter((i) => i.tags["satellites:id"] === id);

async function create(name: string) {
  const org = await makeOrg(db);
  const { satellite } = await createSatellite(db, {
    orgId: org.id, name, platform: "arm64", size: "xsmall", provider: "ec2", actor: "user:bob",
    ...limitColumns(defaultLimits("xsmall")),
  });
  return satellite;
}

it("a duplicate launch job shares the instance instead of terminating it", async () => {
  const sat = await create("twins");
  // A slow boot: both copies are waiting for running at once.
  emu.control.setInstanceFaults("next", { extraStartDelayMs: 2_000 });
  await Promise.all(
    ["a", "b"].map((twin) => world.queues.launch.add("launch", { satelliteId: sat.id, version: sat.version }, { jobId: `launch-${sat.id}-twin-${twin}` })),
  );
  await until(sat.id, "awake");
  await expect.poll(async () => (await world.queues.launch.getJobCounts("active", "waiting")).active, { timeout: 20_000 }).toBe(0);
  const after = await state(sat.id);
  expect(instancesOf(sat.id).map((i) => [i.instanceId, i.state])).toEqual([[after.instanceId, "running"]]);
});

it("a satellite deleted after a failed launch takes its instance with it", async () => {
  const sat = await create("failed-then-deleted");
  emu.control.setInstanceFaults("next", { extraStartDelayMs: 3_000 });
  await enqueue(world.queues, "launch", { satelliteId: sat.id, version: sat.version });
  await expect.poll(() => instancesOf(sat.id).length, { timeout: 15_000, interval: 50 }).toBe(1);
  // EC2 refuses the launch's wait for good: the satellite fails. Aimed at this instance's own
  // polls: the reconciler's listing (every 2 s here) used to take both faults now and then, and
  // the launch then went on to awake.
  const [instance] = instancesOf(sat.id);
  emu.control.failNext({ code: "UnauthorizedOperation", message: "You are not authorized to perform this operation.", actions: ["DescribeInstances"], instanceIds: [instance!.instanceId], count: 2 });
  await until(sat.id, "failed");
  await requestDelete(db, world.queues, await state(sat.id), { actor: "user:bob", force: true });
  await until(sat.id, "deleted");
  await expect.poll(() => instancesOf(sat.id).map((i) => i.state), { timeout: 15_000 }).toEqual([expect.stringMatching(/shutting-down|terminated/)]);
});

it("limits changed between a crashed attempt and its re-run: the same instance, no IdempotentParameterMismatch", async () => {
  const sat = await create("crash-mid-launch");
  emu.control.setInstanceFaults("next", { extraStartDelayMs: 3_000 });
  await enqueue(world.queues, "launch", { satelliteId: sat.id, version: sat.version });
  await expect.poll(() => instancesOf(sat.id).length, { timeout: 15_000, interval: 50 }).toBe(1);
  // The worker dies while the instance boots; the user saves new limits; a worker comes back.
  await worker.kill9();
  expect((await requestLimits(db, world.queues, await state(sat.id), { ...defaultLimits("xsmall"), cpuPercent: 50 })).kind).toBe("saved");
  worker = await world.start();
  await until(sat.id, "awake", 45_000);
  const after = await state(sat.id);
  expect(instancesOf(sat.id).map((i) => i.instanceId)).toEqual([after.instanceId]);
  // The machine was built with the older limits: still pending (EC2 applies them at the next wake).
  expect(after).toMatchObject({ limitsPending: true, failureReason: null });
});
