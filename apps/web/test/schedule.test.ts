// satellite.setSchedule / getSchedule against Postgres: what is stored and shown (next wake,
// the window's hold), who may change it, what a person is told about a schedule that cannot be
// kept, and that a manual sleep inside a window releases it.
import type { Db } from "@satellites/db";
import { WAKE_LEAD_MS } from "@satellites/schedule";
import { TRPCError } from "@trpc/server";
import { DateTime } from "luxon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, newOrg, outcome, satelliteIn, setup, signUp, teardown, tokenFor, type TestUser } from "./helpers.ts";

let db: Db;
let owner: TestUser;
let member: TestUser;
let orgId: string;

beforeAll(async () => {
  ({ db } = setup());
  [owner, member] = await Promise.all([signUp("owner"), signUp("member")]);
  orgId = await newOrg(db, "sched");
  await addMember(db, orgId, owner.id, "owner");
  await addMember(db, orgId, member.id, "member");
});
afterAll(teardown);

async function message(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TRPCError) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error("expected the call to fail");
}

const office = { timeZone: "Europe/Berlin", windows: [{ days: ["mon", "tue", "wed", "thu", "fri"] as ("mon" | "tue" | "wed" | "thu" | "fri")[], start: "08:30", end: "18:00" }] };

describe("satellite.setSchedule", () => {
  it("stores the schedule, shows the next wake 55 s before the next window, and records who changed it", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    const before = Date.now();
    const view = await owner.caller.satellite.setSchedule({ id: sat.id, schedule: { ...office, timeZone: "europe/berlin" } });
    expect(view.schedule).toMatchObject({ timeZone: "Europe/Berlin", summary: "Mon–Fri 08:30–18:00 Europe/Berlin" });
    expect(view.wakeLeadSeconds).toBe(55);
    // The next wake is the next window's opening, less the lead; it opens at 08:30 Berlin time.
    const next = view.nextWindow!;
    expect(DateTime.fromJSDate(new Date(next.opensAt), { zone: "Europe/Berlin" }).toFormat("HH:mm")).toBe("08:30");
    expect(DateTime.fromJSDate(new Date(next.opensAt), { zone: "Europe/Berlin" }).weekday).toBeLessThanOrEqual(5);
    // Run during Berlin office hours, the window is open now: the wake is due at once instead.
    if (view.currentWindow) expect(Math.abs(new Date(view.nextWakeAt!).getTime() - Date.now())).toBeLessThan(5_000);
    else expect(new Date(view.nextWakeAt!).getTime()).toBe(new Date(next.opensAt).getTime() - WAKE_LEAD_MS);
    expect(new Date(next.opensAt).getTime()).toBeGreaterThan(before);

    const row = await db.satelliteSchedule.findUniqueOrThrow({ where: { satelliteId: sat.id } });
    expect(row.windows).toEqual(office.windows);
    const audit = await db.auditEvent.findFirstOrThrow({ where: { targetId: sat.id, action: "satellite.schedule" } });
    expect(audit).toMatchObject({ actor: `user:${owner.id}`, detail: { name: sat.name, schedule: { from: null, to: "Mon–Fri 08:30–18:00 Europe/Berlin" } } });

    // A member reads it; the satellite's own view is unchanged.
    expect(await member.caller.satellite.getSchedule({ id: sat.id })).toMatchObject({ schedule: { summary: "Mon–Fri 08:30–18:00 Europe/Berlin" } });

    // null removes it: the idle rules alone apply again.
    expect(await owner.caller.satellite.setSchedule({ id: sat.id, schedule: null })).toMatchObject({ schedule: null, nextWakeAt: null });
    expect(await db.satelliteSchedule.count({ where: { satelliteId: sat.id } })).toBe(0);
  });

  it("saved inside a window: due at once, and the satellite is held awake until the window closes", async () => {
    const sat = await satelliteIn(db, orgId, "awake");
    await db.satellite.update({ where: { id: sat.id }, data: { lastActivityAt: new Date(Date.now() - 3600_000), idleTimeoutSeconds: 600 } });
    const now = DateTime.now().setZone("Pacific/Chatham");
    const start = now.minus({ minutes: 30 }).startOf("minute");
    const end = now.plus({ hours: 2 }).startOf("minute");
    const days = [...new Set([start, end].map((d) => (["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const)[d.weekday - 1]!))];
    // One window on the day it starts; across midnight it ends the next day.
    const view = await owner.caller.satellite.setSchedule({ id: sat.id, schedule: { timeZone: "Pacific/Chatham", windows: [{ days: [days[0]!], start: start.toFormat("HH:mm"), end: end.toFormat("HH:mm") }] } });
    expect(view.currentWindow).not.toBeNull();
    expect(new Date(view.keptAwakeUntil!).getTime()).toBe(end.toMillis());
    expect(Math.abs(new Date(view.nextWakeAt!).getTime() - Date.now())).toBeLessThan(5_000);
    // Awake and idle for an hour against 10 min: it sleeps when the window closes.
    expect(new Date(view.nextSleepAt!).getTime()).toBe(end.toMillis());

    // A person's sleep inside the window releases the hold; the next wake moves to the next window.
    await owner.caller.satellite.sleep({ id: sat.id });
    const row = await db.satelliteSchedule.findUniqueOrThrow({ where: { satelliteId: sat.id } });
    expect(row.awakeUntil!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(row.wakeAt.getTime()).toBe(start.plus({ days: 7 }).toMillis() - WAKE_LEAD_MS);
    const stop = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id, to: "stopping" } });
    expect(stop).toMatchObject({ cause: "manual", detail: { keepWarmReleased: end.toUTC().toISO() } });
    const after = await member.caller.satellite.getSchedule({ id: sat.id });
    expect(after.keptAwakeUntil).toBeNull();
  });

  it("refuses bad zones, overlapping, empty and too many windows with a sentence, and writes nothing", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    const set = (schedule: unknown) => message(owner.caller.satellite.setSchedule({ id: sat.id, schedule: schedule as never }));
    expect(await set({ timeZone: "Berlin", windows: office.windows })).toBe('BAD_REQUEST: schedule.timeZone: Unknown time zone "Berlin": use an IANA name such as Europe/Berlin or America/New_York');
    expect(await set({ ...office, windows: [...office.windows, { days: ["fri", "sat"], start: "17:00", end: "19:00" }] })).toBe(
      "BAD_REQUEST: schedule.windows.1: Windows 1 (Mon–Fri 08:30–18:00) and 2 (Fri, Sat 17:00–19:00) overlap on Fri: merge them into one window",
    );
    expect(await set({ ...office, windows: [] })).toBe("BAD_REQUEST: schedule.windows: A schedule needs at least one window (to remove the schedule, send null)");
    expect(await set({ ...office, windows: [{ days: ["mon"], start: "09:00", end: "09:00" }] })).toMatch(/^BAD_REQUEST: schedule.windows.0.end: The window is empty/);
    const many = Array.from({ length: 21 }, (_, i) => ({ days: ["sun"], start: `${String(i).padStart(2, "0")}:00`, end: `${String(i).padStart(2, "0")}:30` }));
    expect(await set({ ...office, windows: many })).toBe("BAD_REQUEST: schedule.windows: A schedule has at most 20 windows");
    expect(await set({ timeZone: "x".repeat(10_000), windows: office.windows })).toMatch(/^BAD_REQUEST: schedule.timeZone/);
    expect(await db.satelliteSchedule.count({ where: { satelliteId: sat.id } })).toBe(0);
  });

  it("needs an admin; other organizations get NOT_FOUND for reading and writing", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    expect(await message(member.caller.satellite.setSchedule({ id: sat.id, schedule: office }))).toMatch(/^FORBIDDEN/);
    const memberToken = await tokenFor(db, orgId, member.id);
    expect(await outcome(memberToken.caller.satellite.setSchedule({ id: sat.id, schedule: office }))).toBe("FORBIDDEN");
    const ownerToken = await tokenFor(db, orgId, owner.id);
    expect(await outcome(ownerToken.caller.satellite.setSchedule({ id: sat.id, schedule: office }))).toBe("OK");

    const stranger = await signUp("stranger");
    const otherOrg = await newOrg(db, "other");
    await addMember(db, otherOrg, stranger.id, "owner");
    expect(await outcome(stranger.caller.satellite.getSchedule({ id: sat.id }))).toBe("NOT_FOUND");
    expect(await outcome(stranger.caller.satellite.setSchedule({ id: sat.id, schedule: null }))).toBe("NOT_FOUND");
    const otherToken = await tokenFor(db, otherOrg, stranger.id);
    expect(await outcome(otherToken.caller.satellite.setSchedule({ id: sat.id, schedule: null }))).toBe("NOT_FOUND");
    expect(await db.satelliteSchedule.count({ where: { satelliteId: sat.id } })).toBe(1);
  });
});
