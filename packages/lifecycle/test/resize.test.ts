// requestResize and the stop that leads into a resize, against Postgres and Redis (no worker:
// the jobs are only looked at).
import { afterAll, describe, expect, it } from "vitest";
import { defaultLimits } from "@satellites/catalog";
import type { Satellite } from "@satellites/db";
import { jobIdFor } from "@satellites/queue";
import { transition } from "@satellites/state";
import { makeOrg, makeSatellite, testDb, testQueues } from "@satellites/testing";
import { finishSleep, memoryLimitFor, pendingResize, requestLaunch, requestResize, requestWake } from "../src/index.ts";

const db = testDb();
const q = testQueues();
afterAll(async () => {
  await q.close();
  await db.$disconnect();
});

type Step = [Parameters<typeof transition>[1]["to"], Parameters<typeof transition>[1]["cause"]];
async function walk(sat: Satellite, path: Step[]): Promise<Satellite> {
  for (const [to, cause] of path) sat = (await transition(db, { satellite: sat, to, cause, actor: "system" })).satellite!;
  return sat;
}
const awake = async () => walk(await makeSatellite(db, (await makeOrg(db)).id, { limitMemoryMiB: defaultLimits("small").memoryMiB }), [["awake", "launch"]]);
const asleep = async () => walk(await awake(), [["stopping", "idle"], ["asleep", "idle"]]);
const events = async (id: string) => (await db.satelliteEvent.findMany({ where: { satelliteId: id }, orderBy: { id: "asc" } })).map((e) => `${e.from}→${e.to}:${e.cause}`);

describe("memoryLimitFor", () => {
  it("follows the size when it was the default, keeps a hand-set value that fits, and fits one that does not", () => {
    expect(memoryLimitFor(defaultLimits("small").memoryMiB, "small", "large")).toBe(defaultLimits("large").memoryMiB);
    expect(memoryLimitFor(1024, "small", "large")).toBe(1024);
    expect(memoryLimitFor(4000, "small", "xsmall")).toBe(defaultLimits("xsmall").memoryMiB);
    expect(memoryLimitFor(2048, "small", "xsmall")).toBe(2048); // exactly the machine: allowed by limitsSchema
  });
});

describe("requestResize", () => {
  it("asleep: one compare-and-set to updating with size, platform and memory, then the resize job", async () => {
    const sat = await asleep();
    const r = await requestResize(db, q.queues, sat, { size: "large", platform: "arm64", force: false, actor: "user:u" });
    expect(r).toMatchObject({ kind: "resizing", satellite: { state: "updating", size: "large", platform: "arm64", limitMemoryMiB: defaultLimits("large").memoryMiB, version: sat.version + 1 } });
    expect((await events(sat.id)).at(-1)).toBe("asleep→updating:manual");
    const job = await q.queues.resize.getJob(jobIdFor("resize", { satelliteId: sat.id, version: sat.version + 1 }));
    expect(job?.data).toEqual({ satelliteId: sat.id, version: sat.version + 1 });
  });

  it("concurrent requests on one asleep satellite: exactly one wins, the others are told it changed", async () => {
    const sat = await asleep();
    const outcomes = await Promise.all(
      (["medium", "large", "xlarge", "xsmall"] as const).map((size) => requestResize(db, q.queues, sat, { size, platform: "amd64", force: false, actor: "user:u" })),
    );
    expect(outcomes.filter((o) => o.kind === "resizing")).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === "refused").map((o) => o.kind === "refused" && o.reason)).toEqual(Array(3).fill("satellite changed state meanwhile; try again"));
    expect(await db.satelliteEvent.count({ where: { satelliteId: sat.id, to: "updating" } })).toBe(1);
  });

  it("awake: refused without force; with force the stop is asked for and carries the resize", async () => {
    const sat = await awake();
    expect(await requestResize(db, q.queues, sat, { size: "large", platform: "amd64", force: false, actor: "user:u" })).toEqual({
      kind: "refused",
      reason: "satellite is awake; put it to sleep first, or use force",
    });
    const r = await requestResize(db, q.queues, sat, { size: "large", platform: "amd64", force: true, actor: "user:u" });
    expect(r).toMatchObject({ kind: "resizing", satellite: { state: "stopping", size: "small" } });
    const began = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id, to: "stopping" } });
    expect(began).toMatchObject({ cause: "manual", actor: "user:u" });
    expect(pendingResize(began)).toEqual({ size: "large", platform: "amd64" });
    expect(await q.queues.sleep.getJob(jobIdFor("sleep", { satelliteId: sat.id, version: sat.version + 1 }))).toBeTruthy();
  });
});

describe("finishSleep", () => {
  it("with a resize pending: asleep and updating in one transaction (no wake can win in between), job enqueued", async () => {
    const sat = await awake();
    const r = await requestResize(db, q.queues, sat, { size: "medium", platform: "amd64", force: true, actor: "user:u" });
    const stopping = r.kind === "resizing" ? r.satellite : null;
    // A build request during the stop records its wish; it must not be lost, nor beat the resize.
    expect(await requestWake(db, q.queues, sat.id, { cause: "request", actor: "token:t" })).toMatchObject({ kind: "waking", started: false });
    const out = await finishSleep(db, q.queues, (await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })), { cause: "manual", actor: "user:u", set: { upstream: null } });
    expect(out.asleep.won).toBe(true);
    expect(out.resizing).toMatchObject({ state: "updating", size: "medium", wakeRequested: true, version: stopping!.version + 2 });
    expect((await events(sat.id)).slice(-3)).toEqual(["awake→stopping:manual", "stopping→asleep:manual", "asleep→updating:manual"]);
    const updating = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id, to: "updating" } });
    expect(updating).toMatchObject({ actor: "user:u", detail: { after: "stop", size: { from: "small", to: "medium" } } });
    expect(await q.queues.resize.getJob(jobIdFor("resize", { satelliteId: sat.id, version: out.resizing!.version }))).toBeTruthy();
    // A wake asked for now is recorded for the resize job to honour.
    expect(await requestWake(db, q.queues, sat.id, { cause: "manual", actor: "user:u" })).toMatchObject({ kind: "waking", started: false });
  });

  it("without one: just asleep; and a lost race changes nothing", async () => {
    const sat = await walk(await awake(), [["stopping", "idle"]]);
    const out = await finishSleep(db, q.queues, sat, { cause: "idle", actor: "system" });
    expect(out).toMatchObject({ asleep: { won: true, satellite: { state: "asleep" } }, resizing: null });
    const again = await finishSleep(db, q.queues, sat, { cause: "idle", actor: "system" });
    expect(again).toMatchObject({ asleep: { won: false }, resizing: null });

    const forced = await awake();
    const r = await requestResize(db, q.queues, forced, { size: "large", platform: "amd64", force: true, actor: "user:u" });
    const stale = r.kind === "resizing" ? r.satellite : forced;
    await transition(db, { satellite: stale, to: "awake", cause: "request", actor: "system" }); // a build stream kept it awake
    expect(await finishSleep(db, q.queues, stale, { cause: "manual", actor: "user:u" })).toMatchObject({ asleep: { won: false }, resizing: null });
    expect((await db.satellite.findUniqueOrThrow({ where: { id: forced.id } })).state).toBe("awake");
  });
});

describe("resizes within the organization's vCPU quota", () => {
  // small is 2 vCPUs, large 4: with a quota of 7, one of two smalls may grow to large, not both.
  const quotaOrg = async () => {
    const org = await makeOrg(db);
    await db.organization.update({ where: { id: org.id }, data: { quotaVcpu: 7 } });
    return org;
  };
  const asleepIn = async (orgId: string) => walk(await makeSatellite(db, orgId, { limitMemoryMiB: defaultLimits("small").memoryMiB }), [["awake", "launch"], ["stopping", "idle"], ["asleep", "idle"]]);

  it("two resizes at once in one organization: the quota is checked under its lock, so one is refused", async () => {
    const org = await quotaOrg();
    const [a, b] = [await asleepIn(org.id), await asleepIn(org.id)];
    const outcomes = await Promise.all([a, b].map((s) => requestResize(db, q.queues, s, { size: "large", platform: "amd64", force: false, actor: "user:u" })));
    expect(outcomes.map((o) => o.kind).sort()).toEqual(["refused", "resizing"]);
    expect(outcomes.find((o) => o.kind === "refused")).toMatchObject({ reason: expect.stringMatching(/quota is 7/) });
  });

  it("a forced resize of an awake satellite is checked again when it is asleep: a satellite created meanwhile keeps it from breaking the quota", async () => {
    const org = await quotaOrg();
    const a = await walk(await makeSatellite(db, org.id, { limitMemoryMiB: defaultLimits("small").memoryMiB }), [["awake", "launch"]]);
    expect(await requestResize(db, q.queues, a, { size: "large", platform: "amd64", force: true, actor: "user:u" })).toMatchObject({ kind: "resizing" });
    // While a stops, the quota still counts it as small: 2 + 4 = 6 ≤ 7.
    const b = await requestLaunch(db, q.queues, { orgId: org.id, name: `b-${Date.now()}`, size: "large", platform: "amd64", provider: "local", idleTimeoutSeconds: 600, actor: "user:u" });
    expect(b.kind).toBe("launched");
    const stopping = await db.satellite.findUniqueOrThrow({ where: { id: a.id } });
    const out = await finishSleep(db, q.queues, stopping, { cause: "manual", actor: "system" });
    expect(out.asleep.won).toBe(true);
    expect(out.resizing).toBeNull();
    expect(await db.satellite.findUniqueOrThrow({ where: { id: a.id } })).toMatchObject({ state: "asleep", size: "small" });
    const last = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: a.id }, orderBy: { id: "desc" } });
    expect(`${last.from}→${last.to}`).toBe("stopping→asleep");
    expect(last.detail).toMatchObject({ resizeRefused: expect.stringMatching(/quota is 7/) });
  });
});
