import { afterAll, describe, expect, it } from "vitest";
import { makeOrg, makeSatellite, testDatabaseUrl, testDb } from "@satellites/testing";
import { IllegalTransitionError, markStopIssued, type StateChange, StateWatcher, transition } from "../src/index.ts";
import type { Satellite } from "@satellites/db";

const db = testDb();
afterAll(() => db.$disconnect());

describe("transition", () => {
  it("moves the state, bumps the version and appends exactly one event", async () => {
    const org = await makeOrg(db);
    const sat = await makeSatellite(db, org.id);
    const r = await transition(db, { satellite: sat, to: "awake", cause: "launch", actor: "system" });
    expect(r.won).toBe(true);
    expect(r.satellite).toMatchObject({ state: "awake", version: sat.version + 1 });
    const events = await db.satelliteEvent.findMany({ where: { satelliteId: sat.id }, orderBy: { id: "asc" } });
    expect(events.map((e) => [e.from, e.to, e.cause])).toEqual([
      [null, "creating", "launch"],
      ["creating", "awake", "launch"],
    ]);
  });

  it("records how long a transition took when it completes", async () => {
    const org = await makeOrg(db);
    const sat = await makeSatellite(db, org.id);
    await new Promise((r) => setTimeout(r, 60));
    const r = await transition(db, { satellite: sat, to: "awake", cause: "launch", actor: "system" });
    expect(r.event?.durationMs).toBeGreaterThanOrEqual(50);
    expect(r.event?.startedAt.getTime()).toBe(sat.stateChangedAt.getTime());
    // Leaving a stable state is the start of a transition, not the end of one.
    const s = await transition(db, { satellite: r.satellite!, to: "stopping", cause: "manual", actor: "user:u1" });
    expect(s.event?.durationMs).toBeNull();
    expect(s.event?.actor).toBe("user:u1");
  });

  it("a stale snapshot loses and writes nothing", async () => {
    const org = await makeOrg(db);
    const sat = await makeSatellite(db, org.id);
    await transition(db, { satellite: sat, to: "awake", cause: "launch", actor: "system" });
    const lost = await transition(db, { satellite: sat, to: "failed", cause: "failure", actor: "system", error: "late" });
    expect(lost.won).toBe(false);
    const row = await db.satellite.findUniqueOrThrow({ where: { id: sat.id } });
    expect(row.state).toBe("awake");
    expect(await db.satelliteEvent.count({ where: { satelliteId: sat.id } })).toBe(2);
  });

  it("rejects an illegal transition with a typed error before touching the database", async () => {
    const org = await makeOrg(db);
    const sat = await makeSatellite(db, org.id);
    await expect(transition(db, { satellite: sat, to: "asleep", cause: "manual", actor: "system" })).rejects.toBeInstanceOf(IllegalTransitionError);
    expect((await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })).version).toBe(0);
    expect(await db.satelliteEvent.count({ where: { satelliteId: sat.id } })).toBe(1);
  });

  it("writes the patch in the same update", async () => {
    const org = await makeOrg(db);
    const sat = await makeSatellite(db, org.id);
    const r = await transition(db, { satellite: sat, to: "awake", cause: "launch", actor: "system", set: { upstream: "127.0.0.1:9999", instanceId: "i-1" } });
    expect(r.satellite).toMatchObject({ upstream: "127.0.0.1:9999", instanceId: "i-1" });
  });

  /** Runs `act` on a fresh satellite and returns what was announced about it. */
  async function announcedWhile(act: (sat: Satellite, orgId: string) => Promise<void>): Promise<StateChange[]> {
    const org = await makeOrg(db);
    const sat = await makeSatellite(db, org.id);
    const heard: StateChange[] = [];
    const listener = await StateWatcher.start(testDatabaseUrl());
    listener.subscribe((c) => {
      if (c.id === sat.id) heard.push(c);
    });
    try {
      await act(sat, org.id);
      await expect.poll(() => heard.length, { timeout: 2000 }).toBe(1);
      return heard;
    } finally {
      await listener.close();
    }
  }

  it("announces committed changes to listeners, and only those", async () => {
    let expected = {};
    const heard = await announcedWhile(async (sat, orgId) => {
      const r = await transition(db, { satellite: sat, to: "awake", cause: "launch", actor: "system" });
      await transition(db, { satellite: sat, to: "failed", cause: "failure", actor: "system" }); // lost: no announcement
      expected = { id: sat.id, orgId, from: "creating", to: "awake", version: r.satellite!.version, cause: "launch" };
    });
    expect(heard[0]).toMatchObject(expected);
  });

  it("announces the committed address, so a waiter for awake need not read the row", async () => {
    const heard = await announcedWhile(async (sat) => {
      await transition(db, { satellite: sat, to: "awake", cause: "launch", actor: "system", set: { upstream: "127.0.0.1:9998" } });
    });
    expect(heard[0]).toMatchObject({ to: "awake", upstream: "127.0.0.1:9998" });
  });

  it("records the limits version applied and keeps limitsPending while a newer one was saved", async () => {
    const org = await makeOrg(db);
    // Nothing saved since the job read the row: applied, not pending.
    const a = await db.satellite.update({ where: { id: (await makeSatellite(db, org.id)).id }, data: { limitsPending: true, limitsVersion: 3 } });
    const ra = await transition(db, { satellite: a, to: "awake", cause: "launch", actor: "system", limitsApplied: a.limitsVersion });
    expect(ra.satellite).toMatchObject({ state: "awake", limitsPending: false, limitsAppliedVersion: 3 });
    // Limits saved again while the job ran: the transition still wins, the flag stays.
    const b = await db.satellite.update({ where: { id: (await makeSatellite(db, org.id)).id }, data: { limitsPending: true, limitsVersion: 1 } });
    await db.satellite.update({ where: { id: b.id }, data: { limitMemoryMiB: 2048, limitsVersion: { increment: 1 } } });
    const rb = await transition(db, { satellite: b, to: "awake", cause: "launch", actor: "system", limitsApplied: b.limitsVersion });
    expect(rb.satellite).toMatchObject({ state: "awake", limitsPending: true, limitsAppliedVersion: 1 });
    // Activity (updatedAt moving) is not a limits change.
    const c = await db.satellite.update({ where: { id: (await makeSatellite(db, org.id)).id }, data: { limitsPending: true } });
    await db.satellite.update({ where: { id: c.id }, data: { lastActivityAt: new Date() } });
    const rc = await transition(db, { satellite: c, to: "awake", cause: "launch", actor: "system", limitsApplied: c.limitsVersion });
    expect(rc.satellite).toMatchObject({ limitsPending: false });
  });

  it("clears wakeRequested on every way out of stopping except asleep", async () => {
    const org = await makeOrg(db);
    for (const [to, cause, kept] of [["awake", "request", false], ["failed", "failure", false], ["asleep", "idle", true]] as const) {
      const s = await db.satellite.update({ where: { id: (await makeSatellite(db, org.id)).id }, data: { state: "stopping", wakeRequested: true } });
      const r = await transition(db, { satellite: s, to, cause, actor: "system" });
      expect(r.satellite?.wakeRequested, `stopping → ${to}`).toBe(kept);
    }
  });

  it("once the stop is marked issued, stopping goes on to asleep but never back to awake", async () => {
    const org = await makeOrg(db);
    const s = await db.satellite.update({ where: { id: (await makeSatellite(db, org.id)).id }, data: { state: "stopping" } });
    expect(await markStopIssued(db, s)).toBe(true);
    expect(await markStopIssued(db, s)).toBe(true); // a re-run marks again: same decision
    const back = await transition(db, { satellite: s, to: "awake", cause: "request", actor: "system" });
    expect(back.won).toBe(false);
    const on = await transition(db, { satellite: s, to: "asleep", cause: "manual", actor: "system" });
    expect(on.won).toBe(true);
    // Leaving stopping clears the mark: the next sleep decides afresh.
    expect(on.satellite?.stopIssuedAt).toBeNull();
  });

  it("a copy that sent the satellite back to awake first makes the mark lose", async () => {
    const org = await makeOrg(db);
    const s = await db.satellite.update({ where: { id: (await makeSatellite(db, org.id)).id }, data: { state: "stopping" } });
    expect((await transition(db, { satellite: s, to: "awake", cause: "request", actor: "system" })).won).toBe(true);
    expect(await markStopIssued(db, s)).toBe(false);
    expect((await db.satellite.findUniqueOrThrow({ where: { id: s.id } })).stopIssuedAt).toBeNull();
  });
});
