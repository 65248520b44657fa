import { afterAll, expect, it } from "vitest";
import { makeOrg, makeSatellite, testDatabaseUrl, testDb } from "@satellites/testing";
import { type StateChange, StateWatcher, transition, transitionMany } from "../src/index.ts";

const db = testDb();
afterAll(() => db.$disconnect());

it("moves every satellite whose snapshot is current, with one event and one announcement each", async () => {
  const org = await makeOrg(db);
  const sats = [];
  for (let i = 0; i < 5; i++) sats.push((await transition(db, { satellite: await makeSatellite(db, org.id), to: "awake", cause: "launch", actor: "system" })).satellite!);
  // One of them moved on meanwhile: its snapshot is stale and must lose.
  const stale = sats[2]!;
  await transition(db, { satellite: stale, to: "stopping", cause: "manual", actor: "user:u" });
  const heard: StateChange[] = [];
  const listener = await StateWatcher.start(testDatabaseUrl());
  listener.subscribe((c) => c.orgId === org.id && c.to === "stopping" && c.cause === "idle" && heard.push(c));
  try {
    await new Promise((r) => setTimeout(r, 50));
    const moved = await transitionMany(db, { satellites: sats.map((s) => ({ ...s, detail: { idleSeconds: 99 } })), from: "awake", to: "stopping", cause: "idle", actor: "system" });
    expect(moved.map((m) => m.id).sort()).toEqual(sats.filter((s) => s !== stale).map((s) => s.id).sort());
    for (const s of sats.filter((x) => x !== stale)) {
      const row = await db.satellite.findUniqueOrThrow({ where: { id: s.id } });
      expect(row).toMatchObject({ state: "stopping", version: s.version + 1 });
      expect(row.stateChangedAt.getTime()).toBeGreaterThanOrEqual(s.stateChangedAt.getTime());
      const ev = await db.satelliteEvent.findMany({ where: { satelliteId: s.id, to: "stopping" } });
      expect(ev).toHaveLength(1);
      expect(ev[0]).toMatchObject({ from: "awake", cause: "idle", actor: "system", durationMs: null, detail: { idleSeconds: 99 } });
      expect(ev[0]!.startedAt.getTime()).toBe(s.stateChangedAt.getTime());
      // Stored in UTC like Prisma's own writes: within a few seconds of now.
      expect(Math.abs(ev[0]!.finishedAt.getTime() - Date.now())).toBeLessThan(5000);
    }
    expect(await db.satelliteEvent.count({ where: { satelliteId: stale.id, cause: "idle" } })).toBe(0);
    await expect.poll(() => heard.length, { timeout: 2000 }).toBe(4);
  } finally {
    await listener.close();
  }
});
