// Keep-warm schedules through the real jobs process (BullMQ job scheduler, idle scan, wake and
// sleep jobs, real local satellites) on the wall clock: woken within 60 s before a window
// opens, kept awake through an idle timeout inside it, put to sleep by the idle rules once it
// closes, and a manual sleep inside a window honoured. Then the scan itself at instants around
// a daylight-saving change, and with windows that meet.
import { defaultLimits, limitColumns } from "@satellites/catalog";
import type { Db } from "@satellites/db";
import { requestSleep, requestWake, saveSchedule } from "@satellites/lifecycle";
import { enqueue } from "@satellites/queue";
import { DAYS, type Schedule, WAKE_LEAD_MS } from "@satellites/schedule";
import { createSatellite } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { DateTime } from "luxon";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { scheduleScan } from "../src/processors/schedule-scan.ts";
import { jobsWorld, type JobsWorld, TINY_HEALTH } from "./harness.ts";

let db: Db;
let world: JobsWorld;
let orgId: string;
beforeAll(async () => {
  world = await jobsWorld({ IDLE_SCAN_EVERY_MS: "300", SCHEDULE_SCAN_EVERY_MS: "1000", LOCAL_SATELLITE_COMMAND: TINY_HEALTH });
  db = world.db;
  await world.start();
  orgId = (await makeOrg(db, "sched")).id;
});
afterAll(async () => {
  await world?.close();
});

const ZONE = "Asia/Kathmandu"; // UTC+05:45: a wall clock no UTC arithmetic gets right by accident
const state = async (id: string) => (await db.satellite.findUniqueOrThrow({ where: { id } })).state;
const sleepFor = (ms: number) => new Promise((r) => setTimeout(r, ms));
const backdate = (id: string) => db.satellite.update({ where: { id }, data: { idleTimeoutSeconds: 60, lastActivityAt: new Date(Date.now() - 3600_000) } });
const history = async (id: string) => (await db.satelliteEvent.findMany({ where: { satelliteId: id }, orderBy: { id: "asc" } })).map((e) => ({ ...e, step: `${e.from ?? "∅"}→${e.to}:${e.cause}` }));

/** A window in ZONE from `from` to `to` (minute-aligned instants), on the local day it starts. */
function windowOf(from: Date, to: Date): Schedule {
  const a = DateTime.fromJSDate(from, { zone: ZONE });
  const b = DateTime.fromJSDate(to, { zone: ZONE });
  return { timeZone: ZONE, windows: [{ days: [DAYS[a.weekday - 1]!], start: a.toFormat("HH:mm"), end: b.toFormat("HH:mm") }] };
}
const minuteAtOrAfter = (ms: number) => new Date(Math.ceil(ms / 60_000) * 60_000);

async function awakeSatellite(name: string): Promise<string> {
  const { satellite } = await createSatellite(db, { orgId, name, platform: "arm64", size: "xsmall", provider: "local", actor: "system", ...limitColumns(defaultLimits("xsmall")) });
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await expect.poll(() => state(satellite.id), { timeout: 30_000 }).toBe("awake");
  return satellite.id;
}

describe("on the wall clock, through the jobs process", () => {
  it("wakes within 60 s before the window opens and keeps the satellite awake through an idle timeout; once the window closes the idle rules apply", { timeout: 240_000 }, async () => {
    const [early, closing, outside] = await Promise.all([awakeSatellite("early"), awakeSatellite("closing"), awakeSatellite("outside")]);
    // `early` is asleep, with a window opening at the first minute boundary the wake lead has not reached yet.
    await backdate(early);
    await expect.poll(() => state(early), { timeout: 20_000 }).toBe("asleep");
    const opens = minuteAtOrAfter(Date.now() + WAKE_LEAD_MS + 3_000);
    await saveSchedule(db, early, windowOf(opens, new Date(opens.getTime() + 10 * 60_000)));
    // `closing` is inside a window that closes at the next minute boundary at least 20 s away.
    const closes = minuteAtOrAfter(Date.now() + 20_000);
    await saveSchedule(db, closing, windowOf(new Date(closes.getTime() - 10 * 60_000), closes));
    // `outside` has a schedule, but no window now.
    await saveSchedule(db, outside, windowOf(new Date(opens.getTime() + 3600_000), new Date(opens.getTime() + 7200_000)));
    // All three have been idle for an hour against a 60 s timeout.
    await Promise.all([backdate(closing), backdate(outside)]);

    // Outside a window, the idle scan puts it to sleep as before.
    await expect.poll(() => state(outside), { timeout: 20_000 }).toBe("asleep");
    expect((await history(outside)).find((e) => e.to === "stopping")?.cause).toBe("idle");

    await Promise.all([
      (async () => {
        // Inside the window: idle scans every 300 ms leave it awake until the window closes...
        while (Date.now() < closes.getTime() - 1_000) {
          expect(await state(closing)).toBe("awake");
          await sleepFor(250);
        }
        // ...and then the idle rules put it to sleep within seconds.
        await expect.poll(() => state(closing), { timeout: 15_000 }).toBe("asleep");
        const stop = (await history(closing)).find((e) => e.to === "stopping")!;
        expect(stop.cause).toBe("idle");
        expect(stop.finishedAt.getTime()).toBeGreaterThanOrEqual(closes.getTime());
        expect(stop.finishedAt.getTime() - closes.getTime()).toBeLessThan(10_000);
      })(),
      (async () => {
        await expect.poll(() => state(early), { timeout: 75_000, interval: 200 }).toBe("awake");
        const steps = await history(early);
        const wake = steps.find((e) => e.step === "asleep→starting:schedule")!;
        const awake = steps.find((e) => e.step === "starting→awake:schedule")!;
        expect(wake, JSON.stringify(steps.map((e) => e.step))).toBeDefined();
        // Asked for within 60 s before the window opens, and awake before it does.
        expect(opens.getTime() - wake.finishedAt.getTime()).toBeGreaterThan(0);
        expect(opens.getTime() - wake.finishedAt.getTime()).toBeLessThanOrEqual(60_000);
        expect(awake.finishedAt.getTime()).toBeLessThan(opens.getTime());
        expect(wake.detail).toMatchObject({ opensAt: opens.toISOString() });
        console.log(`schedule: wake asked for ${((opens.getTime() - wake.finishedAt.getTime()) / 1000).toFixed(1)} s before the window, awake ${((opens.getTime() - awake.finishedAt.getTime()) / 1000).toFixed(1)} s before`);
        // Through an idle timeout inside the window (an hour idle against 60 s): still awake.
        await backdate(early);
        const until = Math.max(Date.now() + 3_000, opens.getTime() + 1_000);
        while (Date.now() < until) {
          expect(await state(early)).toBe("awake");
          await sleepFor(250);
        }
        const row = await db.satelliteSchedule.findUniqueOrThrow({ where: { satelliteId: early } });
        expect(row.awakeUntil?.getTime()).toBe(opens.getTime() + 10 * 60_000);
        // The next wake is a week later, 55 s before the same wall-clock time.
        expect(row.wakeAt.getTime()).toBe(opens.getTime() + 7 * 86_400_000 - WAKE_LEAD_MS);
      })(),
    ]);
  });

  it("a manual sleep inside a window is honoured for the rest of it; a build may wake it, and the idle timeout then applies", { timeout: 120_000 }, async () => {
    const id = await awakeSatellite("manual");
    const now = Date.now();
    await saveSchedule(db, id, windowOf(minuteAtOrAfter(now - 5 * 60_000), minuteAtOrAfter(now + 15 * 60_000)));
    const sat = await db.satellite.findUniqueOrThrow({ where: { id } });
    expect(await requestSleep(db, world.queues, sat, { cause: "manual", actor: "user:alice" })).toMatchObject({ kind: "stopping" });
    await expect.poll(() => state(id), { timeout: 20_000 }).toBe("asleep");
    // Several schedule scans (every second) later, it is still asleep.
    await sleepFor(3_000);
    expect(await state(id)).toBe("asleep");
    const stop = (await history(id)).find((e) => e.to === "stopping")!;
    expect(stop).toMatchObject({ cause: "manual", actor: "user:alice" });
    expect(stop.detail).toHaveProperty("keepWarmReleased");
    // A build wakes it; idle for longer than its timeout, it sleeps although the window is open.
    await requestWake(db, world.queues, id, { cause: "request", actor: "token:t" });
    await expect.poll(() => state(id), { timeout: 20_000 }).toBe("awake");
    await backdate(id);
    await expect.poll(() => state(id), { timeout: 20_000 }).toBe("asleep");
    expect((await history(id)).filter((e) => e.to === "stopping").map((e) => e.cause)).toEqual(["manual", "idle"]);
  });

  it("a person's sleep racing the scan's claim of the window: whichever commits first, the hold ends and no scheduled wake overrides the sleep", { timeout: 180_000 }, async () => {
    const log = pino({ level: "silent" });
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => awakeSatellite(`race-${i}`)));
    const now = Date.now();
    const schedule = windowOf(minuteAtOrAfter(now - 5 * 60_000), minuteAtOrAfter(now + 15 * 60_000));
    // Due at once (the window is open): the scan claims each one while the person puts it to sleep.
    await Promise.all(ids.map((id) => saveSchedule(db, id, schedule)));
    const sats = await db.satellite.findMany({ where: { id: { in: ids } } });
    const [, ...slept] = await Promise.all([
      scheduleScan({ db, queues: world.queues, log }),
      ...sats.map((sat) => requestSleep(db, world.queues, sat, { cause: "manual", actor: "user:alice" })),
    ]);
    for (const s of slept) expect(s.kind).toBe("stopping");
    await expect.poll(async () => (await db.satellite.findMany({ where: { id: { in: ids }, state: "asleep" } })).length, { timeout: 60_000 }).toBe(ids.length);
    // Several scans later (the process's, every second): still asleep, no wake asked for, no hold left.
    await sleepFor(3_000);
    const after = await db.satellite.findMany({ where: { id: { in: ids } } });
    expect(after.map((s) => `${s.name}:${s.state}:${s.wakeRequested}`)).toEqual(after.map((s) => `${s.name}:asleep:false`));
    const rows = await db.satelliteSchedule.findMany({ where: { satelliteId: { in: ids } } });
    const held = rows.filter((r) => r.awakeUntil && r.awakeUntil.getTime() > Date.now());
    expect(held.map((r) => r.satelliteId)).toEqual([]);
    for (const id of ids) expect((await history(id)).filter((e) => e.to === "starting" && e.cause === "schedule")).toEqual([]);
  });
});

describe("the scan at chosen instants", () => {
  const log = pino({ level: "silent" });
  const scan = (at: string) => scheduleScan({ db, queues: world.queues, log }, new Date(at));
  // The scan is global: schedules of the wall-clock tests would be due at these later instants.
  beforeEach(() => db.satelliteSchedule.deleteMany({}));

  it("across Berlin's spring clock change: Friday's window at 07:30Z, Monday's wake 55 s before 06:30Z", async () => {
    const id = await awakeSatellite("dst");
    await backdate(id);
    await expect.poll(() => state(id), { timeout: 20_000 }).toBe("asleep");
    const office: Schedule = { timeZone: "Europe/Berlin", windows: [{ days: ["mon", "tue", "wed", "thu", "fri"], start: "08:30", end: "18:00" }] };
    // Saved on Friday 2027-03-26 at 19:00 CET; clocks go forward on Sunday the 28th.
    const saved = await saveSchedule(db, id, office, new Date("2027-03-26T18:00:00Z"));
    expect(saved!.wakeAt.toISOString()).toBe("2027-03-29T06:29:05.000Z");
    expect(await scan("2027-03-29T06:29:04Z")).toMatchObject({ due: 0 });
    expect(await scan("2027-03-29T06:29:06Z")).toMatchObject({ due: 1, woken: 1 });
    const row = await db.satelliteSchedule.findUniqueOrThrow({ where: { satelliteId: id } });
    expect(row.awakeUntil?.toISOString()).toBe("2027-03-29T16:00:00.000Z");
    expect(row.wakeAt.toISOString()).toBe("2027-03-30T06:29:05.000Z");
    const wake = (await history(id)).find((e) => e.step === "asleep→starting:schedule");
    expect(wake?.detail).toMatchObject({ schedule: "Mon–Fri 08:30–18:00 Europe/Berlin", opensAt: "2027-03-29T06:30:00.000Z", closesAt: "2027-03-29T16:00:00.000Z" });
    // The wake job runs for real; a second scan at the same instant finds nothing due.
    await expect.poll(() => state(id), { timeout: 20_000 }).toBe("awake");
    expect(await scan("2027-03-29T06:29:06Z")).toMatchObject({ due: 0 });
    // In autumn, the Monday after the change opens at 07:30Z again.
    await saveSchedule(db, id, office, new Date("2027-10-29T17:00:00Z"));
    expect((await db.satelliteSchedule.findUniqueOrThrow({ where: { satelliteId: id } })).wakeAt.toISOString()).toBe("2027-11-01T07:29:05.000Z");
  });

  it("windows that meet are one wake and one hold; a deleted satellite's schedule is dropped", async () => {
    const id = await awakeSatellite("seam");
    const seam: Schedule = { timeZone: "UTC", windows: [{ days: ["mon"], start: "08:00", end: "12:00" }, { days: ["mon"], start: "12:00", end: "18:00" }] };
    await saveSchedule(db, id, seam, new Date("2027-06-06T12:00:00Z"));
    expect(await scan("2027-06-07T07:59:10Z")).toMatchObject({ woken: 1 });
    const row = await db.satelliteSchedule.findUniqueOrThrow({ where: { satelliteId: id } });
    expect(row.awakeUntil?.toISOString()).toBe("2027-06-07T18:00:00.000Z");
    expect(row.wakeAt.toISOString()).toBe("2027-06-14T07:59:05.000Z");
    // Already awake: no wake was recorded, only the hold.
    expect((await history(id)).filter((e) => e.cause === "schedule")).toEqual([]);

    await db.satellite.update({ where: { id }, data: { state: "deleted", deletedAt: new Date(), liveName: null } });
    expect(await scan("2027-06-14T07:59:10Z")).toMatchObject({ due: 1, dropped: 1 });
    expect(await db.satelliteSchedule.count({ where: { satelliteId: id } })).toBe(0);
  });
});
