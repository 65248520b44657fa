// A woken EC2 satellite first runs the files of its previous boot (or, resumed, those it was
// frozen with); the user-data script restarts its daemon with the limits saved while it slept a
// little later. A wake that asked only whether the daemon answers declared it awake on the old
// daemon: builds then ran under the old limits, and the restart cut them. The emulator's
// machines apply their user-data late, as EC2's do, and serve the worker label it sets.
import { afterAll, beforeAll, expect, it } from "vitest";
import { carriesLabel } from "@satellites/backend/probe";
import { defaultLimits, limitColumns, limitsOf } from "@satellites/catalog";
import type { Db } from "@satellites/db";
import type { Emulator } from "@satellites/ec2-emulator";
import { requestLimits, requestSleep, requestWake } from "@satellites/lifecycle";
import { LIMITS_LABEL, limitsLabel } from "@satellites/provider/limits-label";
import { enqueue } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { fixtureHopProbe } from "@satellites/testing/satellite-tls";
import { ec2World } from "./ec2-world.ts";
import type { JobsWorld } from "./harness.ts";

/** How long after a start or resume the emulated user-data script restarts the daemon. */
const APPLY_MS = 2500;

let db: Db;
let emu: Emulator;
let world: JobsWorld;
beforeAll(async () => {
  ({ emu, world } = await ec2World({ timings: { userDataApplyMs: APPLY_MS } }));
  db = world.db;
  await world.start();
}, 60_000);
afterAll(async () => {
  await world?.close();
  await emu?.close();
});

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });
const until = (id: string, s: string, timeout = 30_000) => expect.poll(async () => (await state(id)).state, { timeout, interval: 50 }).toBe(s);

it.each([
  ["resumed from hibernation", true],
  ["started from stopped", false],
])("limits saved while asleep: %s, it is awake only once its daemon runs with them", { timeout: 120_000 }, async (_, hibernate) => {
  const org = await makeOrg(db);
  const { satellite } = await createSatellite(db, {
    orgId: org.id, name: `wake-config-${hibernate ? "h" : "s"}`, platform: "amd64", size: "small", provider: "ec2", actor: "user:bob", hibernate,
    ...limitColumns({ ...defaultLimits("small"), cpuPercent: 50 }),
  });
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await until(satellite.id, "awake");
  let sat = await state(satellite.id);
  await requestSleep(db, world.queues, sat, { cause: "manual", actor: "user:bob" });
  await until(sat.id, "asleep");
  expect(emu.control.instance(sat.instanceId!)).toMatchObject({ state: "stopped", hibernated: hibernate });

  // Saved while asleep: written to the stopped instance's user-data at once.
  sat = await state(sat.id);
  expect((await requestLimits(db, world.queues, sat, { ...defaultLimits("small"), cpuPercent: 80 })).kind).toBe("saved");
  await expect.poll(async () => (await state(sat.id)).limitsPending, { timeout: 15_000, interval: 100 }).toBe(false);
  const wanted = { key: LIMITS_LABEL, value: limitsLabel(limitsOf(await state(sat.id)), "small") };

  const starts = emu.control.instance(sat.instanceId!)!.processStarts;
  await requestWake(db, world.queues, sat.id, { cause: "manual", actor: "user:bob" });
  await until(sat.id, "awake");
  // What answers at the moment it is awake is the daemon with the new limits, restarted once.
  const upstream = (await state(sat.id)).upstream!;
  expect(await carriesLabel(upstream, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) }, wanted)).toBe(true);
  // Resumed: the thawed daemon, then its restart; started: the old files' daemon, then its restart.
  expect(emu.control.instance(sat.instanceId!)!.processStarts).toBe(starts + (hibernate ? 1 : 2));
});
