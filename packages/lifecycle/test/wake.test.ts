import { afterAll, describe, expect, it } from "vitest";
import { makeOrg, makeSatellite, testDb, testQueues } from "@satellites/testing";
import { type Satellite } from "@satellites/db";
import { transition } from "@satellites/state";
import { requestWake } from "../src/index.ts";

const db = testDb();
const q = testQueues();
afterAll(async () => {
  await q.close();
  await db.$disconnect();
});

async function walk(sat: Satellite, path: [Parameters<typeof transition>[1]["to"], Parameters<typeof transition>[1]["cause"]][]): Promise<Satellite> {
  for (const [to, cause] of path) sat = (await transition(db, { satellite: sat, to, cause, actor: "system" })).satellite!;
  return sat;
}
const toAsleep = [["awake", "launch"], ["stopping", "idle"], ["asleep", "idle"]] as Parameters<typeof walk>[1];

describe("requestWake", () => {
  it("one winner among concurrent callers enqueues exactly one wake job", async () => {
    const org = await makeOrg(db);
    const sat = await walk(await makeSatellite(db, org.id), toAsleep);
    const outcomes = await Promise.all(Array.from({ length: 30 }, () => requestWake(db, q.queues, sat.id, { cause: "request", actor: "token:t" })));
    expect(outcomes.every((o) => o.kind === "waking")).toBe(true);
    expect(outcomes.filter((o) => o.kind === "waking" && o.started)).toHaveLength(1);
    const jobs = await q.queues.wake.getJobs(["waiting", "delayed", "active", "prioritized"]);
    expect(jobs.filter((j) => j.data.satelliteId === sat.id)).toHaveLength(1);
    expect(jobs[0]!.id).toBe(`wake-${sat.id}-v${sat.version + 1}`);
    expect(await db.satelliteEvent.count({ where: { satelliteId: sat.id, to: "starting" } })).toBe(1);
  });

  it("during stopping records the wish instead of racing the stop", async () => {
    const org = await makeOrg(db);
    const sat = await walk(await makeSatellite(db, org.id), [["awake", "launch"], ["stopping", "idle"]]);
    const o = await requestWake(db, q.queues, sat.id, { cause: "request", actor: "token:t" });
    expect(o).toMatchObject({ kind: "waking", started: false });
    expect((await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })).wakeRequested).toBe(true);
  });

  it("awake is answered at once; deleted and (for builds) failed are unavailable", async () => {
    const org = await makeOrg(db);
    const awake = await walk(await makeSatellite(db, org.id), [["awake", "launch"]]);
    expect((await requestWake(db, q.queues, awake.id, { cause: "request", actor: "x" })).kind).toBe("awake");

    const failed = await transition(db, { satellite: await makeSatellite(db, org.id), to: "failed", cause: "failure", actor: "system", set: { failureReason: "no capacity" } });
    const o = await requestWake(db, q.queues, failed.satellite!.id, { cause: "request", actor: "x" });
    expect(o).toMatchObject({ kind: "unavailable", reason: "satellite failed: no capacity" });
    // A person retrying a failed satellite is allowed.
    expect(await requestWake(db, q.queues, failed.satellite!.id, { cause: "manual", actor: "user:u" })).toMatchObject({ kind: "waking", started: true });

    const gone = await walk(await makeSatellite(db, org.id), [["deleting", "delete"], ["deleted", "delete"]]);
    expect((await requestWake(db, q.queues, gone.id, { cause: "request", actor: "x" })).kind).toBe("unavailable");
  });
});
