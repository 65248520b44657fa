// A sleep job retried after it issued the provider stop only finishes the stop: a lease that
// appears meanwhile does not send the satellite back to awake (EC2 emulator, real jobs process).
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import type { Db } from "@satellites/db";
import type { Emulator } from "@satellites/ec2-emulator";
import { requestSleep } from "@satellites/lifecycle";
import { enqueue, holdLease } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
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

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });
const until = (id: string, s: string, timeout = 30_000) => expect.poll(async () => (await state(id)).state, { timeout, interval: 100 }).toBe(s);

it("a sleep retried after its stop was issued ends asleep, whatever lease appears meanwhile", async () => {
  const org = await makeOrg(db);
  const { satellite } = await createSatellite(db, {
    orgId: org.id, name: "retried-sleep", platform: "arm64", size: "xsmall", provider: "ec2", actor: "user:bob", ...limitColumns(defaultLimits("xsmall")),
  });
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await until(satellite.id, "awake");
  // The stop call fails once (after the job committed to stopping); before the retry a proxy
  // takes a lease (a call that will find `stopping` and ask for a wake).
  // Four failures: more than the SDK retries within one call, so the job itself is retried.
  emu.control.failNext({ code: "InternalError", message: "An internal error has occurred.", actions: ["StopInstances"], count: 4 });
  const sleeping = await requestSleep(db, world.queues, await state(satellite.id), { cause: "manual", actor: "user:bob" });
  expect(sleeping.kind).toBe("stopping");
  await expect.poll(() => emu.control.stats().errors.StopInstances ?? 0, { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
  await holdLease(world.redis, satellite.id, "proxy-late", 15_000, true);
  await until(satellite.id, "asleep");
  const sat = await state(satellite.id);
  expect(emu.control.instance(sat.instanceId!)!.state).toBe("stopped");
  const history = (await db.satelliteEvent.findMany({ where: { satelliteId: sat.id }, orderBy: { id: "asc" } })).map((e) => `${e.from ?? "∅"}→${e.to}:${e.cause}`);
  expect(history.slice(-2)).toEqual(["awake→stopping:manual", "stopping→asleep:manual"]);
  await world.redis.del(`satellites:leases:${sat.id}`, `satellites:streams:${sat.id}`);
});
