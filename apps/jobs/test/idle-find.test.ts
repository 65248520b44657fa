// The idle scan's query: who is idle, longest idle first — satellites never active (idle since
// their state changed) before the rest, by last activity — and who is not (recent activity, a
// timeout under IDLE_MIN_SECONDS). bench:scale --large measures its speed.
import { afterAll, expect, it } from "vitest";
import { makeOrg, makeSatellite, testDb } from "@satellites/testing";
import { findIdle } from "../src/processors/idle-scan.ts";

const db = testDb();
afterAll(() => db.$disconnect());

const ago = (s: number) => new Date(Date.now() - s * 1000);

it("finds the idle awake satellites, never-active ones first, then by last activity; not the recently active ones", async () => {
  const org = await makeOrg(db);
  const awake = async (lastActivityAt: Date | null, stateChangedAt: Date, idleTimeoutSeconds = 1800) => {
    const s = await makeSatellite(db, org.id);
    await db.satellite.update({ where: { id: s.id }, data: { state: "awake", lastActivityAt, stateChangedAt, idleTimeoutSeconds } });
    return s.id;
  };
  const neverActive = await awake(null, ago(3 * 3600));
  const twoHours = await awake(ago(2 * 3600), ago(4 * 3600));
  const oneHour = await awake(ago(3600), ago(4 * 3600));
  const recent = await awake(ago(600), ago(4 * 3600));
  const justChanged = await awake(null, ago(600));
  // A 10 s timeout is below IDLE_MIN_SECONDS (60): 30 s of quiet is not idle yet.
  const shortTimeout = await awake(ago(30), ago(4 * 3600), 10);
  const ours = new Set([neverActive, twoHours, oneHour, recent, justChanged, shortTimeout]);
  // Other test files share this database: only our satellites' order is looked at.
  const found = (await findIdle({ db }, 60, 100_000)).filter((c) => ours.has(c.id));
  expect(found.map((c) => c.id)).toEqual([neverActive, twoHours, oneHour]);
  expect(found[0]!.idleSeconds).toBeGreaterThanOrEqual(3 * 3600 - 5);
  expect(found[1]!.idleSeconds).toBeGreaterThanOrEqual(2 * 3600 - 5);
});
