// History: keyset pages that neither skip nor repeat events, filters, and the figures
// (time per state per day, wake percentiles, cost avoided) computed from known event logs.
import type { Db, SatelliteState, EventCause } from "@satellites/db";
import { SIZE_SPECS } from "@satellites/catalog";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, newOrg, satelliteIn, setup, signUp, teardown, type TestUser } from "./helpers.ts";

let db: Db;
let owner: TestUser;
let orgId: string;

beforeAll(async () => {
  ({ db } = setup());
  owner = await signUp("owner");
  orgId = await newOrg(db);
  await addMember(db, orgId, owner.id, "owner");
});
afterAll(teardown);

const H = 3_600_000;
const utcMidnight = (d = new Date()) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());

async function log(satelliteId: string, events: [SatelliteState | null, SatelliteState, number, EventCause?, number?][]): Promise<void> {
  for (const [from, to, at, cause = "manual", durationMs] of events) {
    await db.satelliteEvent.create({ data: { satelliteId, orgId, from, to, cause, actor: "system", startedAt: new Date(at), finishedAt: new Date(at), durationMs: durationMs ?? null } });
  }
}

describe("history.stats", () => {
  it("computes hours per state per UTC day, wake percentiles and cost avoided", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const s = await satelliteIn(db, org, "awake");
    await db.satelliteEvent.deleteMany({ where: { satelliteId: s.id } });
    const y = utcMidnight() - 24 * H; // yesterday 00:00 UTC
    const ev = async (list: Parameters<typeof log>[1]) => {
      for (const [from, to, at, cause = "manual", d] of list) await db.satelliteEvent.create({ data: { satelliteId: s.id, orgId: org, from, to, cause, actor: "system", startedAt: new Date(at), finishedAt: new Date(at), durationMs: d ?? null } });
    };
    await ev([
      [null, "creating", y + 1 * H, "launch"],
      ["creating", "awake", y + 1 * H + 60_000, "launch", 60_000],
      ["awake", "stopping", y + 4 * H, "idle"],
      ["stopping", "asleep", y + 4 * H + 60_000, "idle", 60_000],
      ["asleep", "starting", y + 11 * H, "request"],
      ["starting", "awake", y + 11 * H + 30_000, "request", 30_000],
      ["awake", "stopping", y + 20 * H, "idle"],
      ["stopping", "asleep", y + 20 * H + 60_000, "idle", 60_000],
      ["asleep", "starting", y + 22 * H, "manual"],
      ["starting", "awake", y + 22 * H + 90_000, "manual", 90_000],
    ]);
    const stats = await owner.caller.history.stats({ satelliteId: s.id, days: 2 });
    expect(stats.wakes).toBe(2);
    expect(stats.medianMs).toBe(60_000); // percentile_cont of 30 s and 90 s
    expect(stats.p95Ms).toBe(87_000);
    const yesterday = stats.days.find((d) => d.day === new Date(y).toISOString().slice(0, 10))!;
    // awake 01:01–04:00, 11:00:30–20:00, 22:01:30–24:00; asleep 04:01–11:00, 20:01–22:00.
    const awake = (3 * H - 60_000 + 9 * H - 30_000 + 2 * H - 90_000) / H;
    const asleep = (7 * H - 60_000 + 2 * H - 60_000) / H;
    expect(yesterday.awakeHours).toBeCloseTo(awake, 3);
    expect(yesterday.asleepHours).toBeCloseTo(asleep, 3);
    expect(yesterday.costAvoidedUsd).toBeCloseTo(asleep * SIZE_SPECS.small.hourlyUsd.amd64, 6);
    const today = stats.days.find((d) => d.day === new Date().toISOString().slice(0, 10))!;
    expect(today.awakeHours).toBeCloseTo((Date.now() - utcMidnight()) / H, 1);
    expect(today.asleepHours).toBe(0);
    // The organization's figures include this satellite.
    const orgStats = await owner.caller.history.stats({ orgId: org, days: 2 });
    expect(orgStats.asleepHours).toBeCloseTo(asleep, 3);
  });

  it("counts wake times into the histogram's buckets (failed wakes and other orgs left out)", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const s = await satelliteIn(db, org, "awake");
    await db.satelliteEvent.deleteMany({ where: { satelliteId: s.id } });
    // Inside today's UTC day, which `days: 1` covers (an hour ago is yesterday in the first hour of a day).
    const t = Math.max(utcMidnight() + 1, Date.now() - H);
    const wake = (ms: number, to: SatelliteState = "awake") => db.satelliteEvent.create({ data: { satelliteId: s.id, orgId: org, from: "starting", to, cause: "request", actor: "system", startedAt: new Date(t), finishedAt: new Date(t), durationMs: ms } });
    for (const ms of [120, 499, 500, 1500, 4000, 4999, 29_000, 61_000, 3_600_000]) await wake(ms);
    await wake(800, "failed");
    // Another organization's wake never counts here.
    const other = await newOrg(db);
    const os = await satelliteIn(db, other, "awake");
    await db.satelliteEvent.create({ data: { satelliteId: os.id, orgId: other, from: "starting", to: "awake", cause: "request", actor: "system", startedAt: new Date(t), finishedAt: new Date(t), durationMs: 100 } });
    const stats = await owner.caller.history.stats({ orgId: org, days: 1 });
    expect(stats.wakeDurations).toEqual([
      { fromMs: 0, toMs: 500, wakes: 2 },
      { fromMs: 500, toMs: 1000, wakes: 1 },
      { fromMs: 1000, toMs: 2000, wakes: 1 },
      { fromMs: 2000, toMs: 5000, wakes: 2 },
      { fromMs: 5000, toMs: 10_000, wakes: 0 },
      { fromMs: 10_000, toMs: 30_000, wakes: 1 },
      { fromMs: 30_000, toMs: 60_000, wakes: 0 },
      { fromMs: 60_000, toMs: null, wakes: 2 },
    ]);
    expect(stats.wakes).toBe(9);
  });

  it("counts the state a satellite was in before the window", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const s = await satelliteIn(db, org, "asleep");
    await db.satelliteEvent.deleteMany({ where: { satelliteId: s.id } });
    await db.satelliteEvent.create({ data: { satelliteId: s.id, orgId: org, from: "stopping", to: "asleep", cause: "idle", actor: "system", startedAt: new Date(Date.now() - 40 * 24 * H), finishedAt: new Date(Date.now() - 40 * 24 * H) } });
    const stats = await owner.caller.history.stats({ satelliteId: s.id, days: 1 });
    expect(stats.asleepHours).toBeCloseTo((Date.now() - utcMidnight()) / H, 1);
  });
});

describe("history.list", () => {
  it("pages through every event exactly once, newest first, ties included", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const base = Date.now() - 10 * H;
    const evs: Parameters<typeof log>[1] = [];
    // 130 events over 65 distinct instants: each instant twice, so pages split ties.
    for (let i = 0; i < 130; i++) evs.push(["asleep", i % 2 ? "starting" : "asleep", base + Math.floor(i / 2) * 1000, i % 3 ? "manual" : "request"]);
    await log(s.id, evs);
    const seen: string[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await owner.caller.history.list({ satelliteId: s.id, limit: 50, cursor });
      seen.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    const all = await db.satelliteEvent.findMany({ where: { satelliteId: s.id }, orderBy: [{ finishedAt: "desc" }, { id: "desc" }], select: { id: true } });
    expect(seen).toEqual(all.map((e) => e.id.toString()));
  });

  it("filters by cause, state entered and time range", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const t = Date.now() - 5 * H;
    await log(s.id, [
      ["asleep", "starting", t, "request"],
      ["starting", "awake", t + 1000, "request", 1000],
      ["awake", "stopping", t + H, "idle"],
      ["stopping", "asleep", t + H + 1000, "idle", 1000],
    ]);
    const byCause = await owner.caller.history.list({ satelliteId: s.id, cause: ["idle"] });
    expect(byCause.items.map((e) => e.to)).toEqual(["asleep", "stopping"]);
    const byState = await owner.caller.history.list({ satelliteId: s.id, state: ["awake"] });
    expect(byState.items).toHaveLength(1);
    const ranged = await owner.caller.history.list({ satelliteId: s.id, from: new Date(t + 500), to: new Date(t + H + 500) });
    expect(ranged.items.map((e) => e.to)).toEqual(["stopping", "awake"]);
    await expect(owner.caller.history.list({ satelliteId: s.id, from: new Date(t + H), to: new Date(t) })).rejects.toThrow("from: from must be before to");
    await expect(owner.caller.history.list({ satelliteId: s.id, cursor: "nonsense" })).rejects.toThrow(/cursor is not valid/);
  });

  it("stays readable after the satellite is deleted", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    await db.satellite.update({ where: { id: s.id }, data: { state: "deleted", liveName: null } });
    await expect(owner.caller.history.list({ satelliteId: s.id })).resolves.toMatchObject({ items: expect.any(Array) });
  });
});

describe("history.timeline", () => {
  it("returns consecutive intervals ending now", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    await db.satelliteEvent.deleteMany({ where: { satelliteId: s.id } });
    const t = Date.now() - 2 * H;
    await log(s.id, [
      [null, "creating", t, "launch"],
      ["creating", "awake", t + 60_000, "launch"],
      ["awake", "stopping", t + H, "idle"],
      ["stopping", "asleep", t + H + 5000, "idle"],
    ]);
    const tl = await owner.caller.history.timeline({ satelliteId: s.id, days: 1 });
    expect(tl.intervals.map((i) => i.state)).toEqual(["creating", "awake", "stopping", "asleep"]);
    expect(new Date(tl.intervals[1]!.start).getTime()).toBe(t + 60_000);
    expect(new Date(tl.intervals[1]!.end).getTime()).toBe(t + H);
    expect(Date.now() - new Date(tl.intervals[3]!.end).getTime()).toBeLessThan(5000);
  });
});
