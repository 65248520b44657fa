// A limits save and a resize of the same satellite, each read before the other committed. Limits
// are checked against a size and a resize fits the memory limit to the new one, so each must
// see what the other wrote: a save validated against the old size must not land over a shrink
// (memory past the machine, which EC2's user-data then refuses at every start), and a resize
// must not put back the memory limit a save just replaced.
import { afterAll, describe, expect, it } from "vitest";
import { defaultLimits, limitsOf, SIZE_SPECS, type SizeName } from "@satellites/catalog";
import type { Satellite } from "@satellites/db";
import { transition } from "@satellites/state";
import { makeOrg, makeSatellite, testDb, testQueues } from "@satellites/testing";
import { requestLimits, requestResize } from "../src/index.ts";

const db = testDb();
const q = testQueues();
afterAll(async () => {
  await q.close();
  await db.$disconnect();
});

async function asleep(size: SizeName): Promise<Satellite> {
  let sat = await makeSatellite(db, (await makeOrg(db)).id, { size, limitMemoryMiB: defaultLimits(size).memoryMiB });
  for (const [to, cause] of [["awake", "launch"], ["stopping", "idle"], ["asleep", "idle"]] as const) sat = (await transition(db, { satellite: sat, to, cause, actor: "system" })).satellite!;
  return sat;
}
const row = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });

describe("limits and resize read before each other", () => {
  it("a save checked against the size before a shrink is checked again against the new size", async () => {
    const stale = await asleep("large");
    expect(await requestResize(db, q.queues, stale, { size: "small", platform: "amd64", force: false, actor: "user:u" })).toMatchObject({ kind: "resizing" });
    const out = await requestLimits(db, q.queues, stale, { ...limitsOf(stale), memoryMiB: 12_000 });
    expect(out).toMatchObject({ kind: "invalid", issues: expect.arrayContaining([expect.stringMatching(/memory.*4096/i)]) });
    expect((await row(stale.id)).limitMemoryMiB).toBeLessThanOrEqual(SIZE_SPECS.small.memoryMiB);
  });

  it("a save of one limit keeps the others as they are now, not as the caller last read them", async () => {
    const stale = await asleep("small");
    expect((await requestLimits(db, q.queues, stale, { memoryMiB: 1500 })).kind).toBe("saved");
    expect((await requestLimits(db, q.queues, stale, { cpuPercent: 50 })).kind).toBe("saved");
    expect(limitsOf(await row(stale.id))).toMatchObject({ memoryMiB: 1500, cpuPercent: 50 });
  });

  it("a resize read before a save keeps the memory limit the save set", async () => {
    const stale = await asleep("small");
    expect((await requestLimits(db, q.queues, stale, { ...limitsOf(stale), memoryMiB: 1500 })).kind).toBe("saved");
    expect(await requestResize(db, q.queues, stale, { size: "large", platform: "amd64", force: false, actor: "user:u" })).toMatchObject({ kind: "resizing" });
    // A hand-set value that fits the new size is kept (memoryLimitFor), so 1500, not large's default.
    expect(await row(stale.id)).toMatchObject({ size: "large", limitMemoryMiB: 1500 });
  });

  it("20 rounds of a save and a shrink at once: the memory limit always fits the size it ends on", async () => {
    for (let i = 0; i < 20; i++) {
      const sat = await asleep("large");
      const save = () => requestLimits(db, q.queues, sat, { ...limitsOf(sat), memoryMiB: 12_000 });
      const shrink = () => requestResize(db, q.queues, sat, { size: "small", platform: "amd64", force: false, actor: "user:u" });
      // Either one sent first, half the rounds each.
      const saved = i % 2 ? (await Promise.all([save(), shrink()]))[0] : (await Promise.all([shrink(), save()]))[1];
      const after = await row(sat.id);
      expect(after.limitMemoryMiB).toBeLessThanOrEqual(SIZE_SPECS[after.size as SizeName].memoryMiB);
      if (saved.kind === "saved" && after.size === "large") expect(after.limitMemoryMiB).toBe(12_000);
    }
  });
});
