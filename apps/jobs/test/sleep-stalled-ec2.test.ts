// A sleep job that stalls (its process frozen past the job's lock) is run again by BullMQ in
// another jobs process while the first copy is still alive. Once one copy has issued the
// provider stop, the other must not send the satellite back to awake — that left an awake
// satellite on a stopped machine, whose calls failed until the reconciler noticed (issue 16,
// bug 6; chaos seed 3). Two real jobs processes, the EC2 emulator, SIGSTOP for the stall.
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import type { Db } from "@satellites/db";
import type { Emulator } from "@satellites/ec2-emulator";
import { requestSleep, requestWake } from "@satellites/lifecycle";
import { enqueue, holdLease, jobIdFor, releaseLease } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { ec2World } from "./ec2-world.ts";
import type { JobsProcess, JobsWorld } from "./harness.ts";

let db: Db;
let emu: Emulator;
let world: JobsWorld;
const frozen: JobsProcess[] = [];
beforeAll(async () => {
  // A 2 s job lock: a process frozen for a few seconds loses its job to the other process.
  // The reconciler is slowed down so the satellite's state is what the sleep copies left.
  ({ emu, world } = await ec2World({ tiny: true, env: { JOBS_LOCK_MS: "2000", RECONCILE_EVERY_MS: "600000" } }));
  db = world.db;
});
afterAll(async () => {
  for (const p of frozen) p.proc.kill("SIGCONT");
  await world?.close();
  await emu?.close();
});

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });
const until = (id: string, s: string, timeout = 60_000) => expect.poll(async () => (await state(id)).state, { timeout, interval: 100 }).toBe(s);

it("a stalled sleep copy resumed after its twin issued the stop never returns the satellite to awake", { timeout: 240_000 }, async () => {
  const first = await world.start();
  const org = await makeOrg(db);
  const { satellite } = await createSatellite(db, {
    orgId: org.id, name: "stalled-sleep", platform: "arm64", size: "xsmall", provider: "ec2", actor: "user:bob", ...limitColumns(defaultLimits("xsmall")),
  });
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await until(satellite.id, "awake");

  // The last call's lease lingers: the sleep job waits it out, polling.
  await holdLease(world.redis, satellite.id, "proxy-linger", 60_000, false);
  const sleeping = await requestSleep(db, world.queues, await state(satellite.id), { cause: "manual", actor: "user:bob" });
  expect(sleeping.kind).toBe("stopping");
  const job = await world.queues.sleep.getJob(jobIdFor("sleep", { satelliteId: satellite.id, version: sleeping.satellite!.version }));
  await expect.poll(() => job!.getState(), { timeout: 30_000, interval: 50 }).toBe("active");
  await new Promise((r) => setTimeout(r, 500));

  // The first copy's process freezes (a starved event loop, as under load) inside that wait.
  first.proc.kill("SIGSTOP");
  frozen.push(first);
  // Meanwhile the lease ends, and the stop the second copy will issue is acted on by EC2 but
  // answered only after a while: the second copy is between its stop and asleep for seconds.
  await releaseLease(world.redis, satellite.id, "proxy-linger");
  emu.control.failNext({ hangMs: 10_000, actions: ["StopInstances"], count: 1 });
  await world.start();
  await expect.poll(() => emu.control.stats().requests.StopInstances ?? 0, { timeout: 60_000, interval: 50 }).toBeGreaterThan(0);
  const instanceId = (await state(satellite.id)).instanceId!;
  await expect.poll(() => emu.control.instance(instanceId)!.state, { timeout: 10_000, interval: 50 }).not.toBe("running");

  // A build call arrives at a proxy, finds the satellite stopping and asks for a wake; then the
  // frozen copy resumes, sees that call, and (on the old code) went back to awake.
  await holdLease(world.redis, satellite.id, "proxy-late", 60_000, false);
  const wake = await requestWake(db, world.queues, satellite.id, { cause: "request", actor: "token:late" });
  expect(wake.kind).toBe("waking");
  first.proc.kill("SIGCONT");
  frozen.splice(frozen.indexOf(first), 1);

  // The stop is finished and the wake asked for meanwhile honoured: awake on a running machine.
  await expect
    .poll(async () => {
      const s = await state(satellite.id);
      return `${s.state} on ${emu.control.instance(s.instanceId!)!.state}`;
    }, { timeout: 90_000, interval: 200 })
    .toBe("awake on running");
  const history = (await db.satelliteEvent.findMany({ where: { satelliteId: satellite.id }, orderBy: { id: "asc" } })).map((e) => `${e.from ?? "∅"}→${e.to}:${e.cause}`);
  expect(history.slice(history.indexOf("awake→stopping:manual"))).toEqual([
    "awake→stopping:manual",
    "stopping→asleep:manual",
    "asleep→starting:request",
    "starting→awake:request",
  ]);
  await world.redis.del(`satellites:leases:${satellite.id}`, `satellites:streams:${satellite.id}`);
});
