// WakeSatellite, ReserveSatellite and SleepSatellite: each committed state change, in order,
// from the state announcements; the stream ends at the goal (EOF), or with an error status and a
// reason (a failed satellite: ABORTED, no FAILED message, which the Earthly CLI prints without it).
// The transitions the jobs worker would make are made here, committed and announced the same way.
import { status } from "@grpc/grpc-js";
import type { Db } from "@satellites/db";
import { jobIdFor } from "@satellites/queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SatelliteStatus as S } from "../src/index.ts";
import { auth, type Harness, move, org, person, type Person, satelliteIn, startHarness, StatusStream } from "./fixtures.ts";

let h: Harness;
let db: Db;
let orgId: string;
let member: Person;

beforeAll(async () => {
  h = await startHarness();
  db = h.db;
  orgId = (await org(db)).id;
  member = await person(db, orgId, "member");
});
afterAll(() => h.close());

const open = (method: "ReserveSatellite" | "WakeSatellite" | "SleepSatellite", name: string, who = member) => new StatusStream(h.compute, method, { org_id: orgId, name }, auth(who.token));

describe.each(["ReserveSatellite", "WakeSatellite"] as const)("%s", (method) => {
  it("awake → OPERATIONAL, EOF", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const stream = open(method, s.name);
    expect(await stream.done).toEqual({ error: null });
    expect(stream.statuses).toEqual([S.OPERATIONAL]);
    // Reserve announces a build: the idle clock restarts (the idle scan will not stop it before the build's first call).
    if (method === "ReserveSatellite") {
      await expect.poll(async () => (await db.satellite.findUniqueOrThrow({ where: { id: s.id } })).lastActivityAt).not.toBeNull();
    }
  });

  it("asleep → SLEEP, STARTING, OPERATIONAL, EOF, with exactly one wake", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const stream = open(method, s.name);
    expect(await stream.seen(2)).toEqual([S.SLEEP, S.STARTING]);
    const second = open(method, s.name);
    expect(await second.seen(1)).toEqual([S.STARTING]);
    await move(db, s.id, "awake");
    expect(await stream.done).toEqual({ error: null });
    expect(await second.done).toEqual({ error: null });
    expect(stream.statuses).toEqual([S.SLEEP, S.STARTING, S.OPERATIONAL]);
    expect(second.statuses).toEqual([S.STARTING, S.OPERATIONAL]);
    const wakes = await db.satelliteEvent.findMany({ where: { satelliteId: s.id, to: "starting" } });
    expect(wakes).toEqual([expect.objectContaining({ cause: method === "ReserveSatellite" ? "request" : "manual", actor: `token:${member.apiTokenId}` })]);
    // The one wake's job, for the version it moved the satellite to.
    expect(await h.queues.queues.wake.getJob(jobIdFor("wake", { satelliteId: s.id, version: s.version + 1 }))).toBeDefined();
  });

  // The satellite was read before the stream listened for its changes: one that reached awake in
  // between (its announcement unheard) left a stream on `starting` until its 20 min timeout.
  it("a satellite that wakes while the stream opens ends it OPERATIONAL, never waiting for a change already made", async () => {
    const rounds = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const s = await satelliteIn(db, orgId, "starting");
        const stream = open(method, s.name);
        await new Promise((r) => setTimeout(r, i % 6));
        await move(db, s.id, "awake");
        return Promise.race([stream.done.then((d) => d.error?.code ?? "EOF"), new Promise((r) => setTimeout(() => r("still open after 5 s"), 5_000))]);
      }),
    );
    expect(rounds).toEqual(Array(24).fill("EOF"));
  });

  it("a long wake says it is still starting every update interval (the CLI prints a line each time), and ends as before", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const stream = new StatusStream(h.compute, method, { org_id: orgId, name: s.name, update_interval: { seconds: "0", nanos: 300_000_000 } }, auth(member.token));
    expect(await stream.seen(4)).toEqual([S.SLEEP, S.STARTING, S.STARTING, S.STARTING]);
    await move(db, s.id, "awake");
    expect(await stream.done).toEqual({ error: null });
    expect(stream.statuses.at(-1)).toBe(S.OPERATIONAL);
    expect(stream.statuses.filter((x) => x === S.OPERATIONAL)).toHaveLength(1);
  });

  it("falling asleep → STOPPING, STARTING, OPERATIONAL, EOF (the wake follows the stop)", async () => {
    const s = await satelliteIn(db, orgId, "stopping");
    const stream = open(method, s.name);
    expect(await stream.seen(1)).toEqual([S.STOPPING]);
    expect((await db.satellite.findUniqueOrThrow({ where: { id: s.id } })).wakeRequested).toBe(true);
    await move(db, s.id, "asleep");
    expect(await stream.seen(2)).toEqual([S.STOPPING, S.STARTING]);
    await move(db, s.id, "awake");
    expect(await stream.done).toEqual({ error: null });
    expect(stream.statuses).toEqual([S.STOPPING, S.STARTING, S.OPERATIONAL]);
  });

  it("a wake that fails → SLEEP, STARTING, then ABORTED with the reason (no FAILED message: the CLI would stop there without it)", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const stream = open(method, s.name);
    await stream.seen(2);
    await move(db, s.id, "failed", { failureReason: "instance i-123 did not pass its health check" });
    const { error } = await stream.done;
    expect(stream.statuses).toEqual([S.SLEEP, S.STARTING]);
    expect(error?.code).toBe(status.ABORTED);
    expect(error?.details).toBe(`satellite "${s.name}" failed: instance i-123 did not pass its health check; retry it with \`earthly sat wake\` or from the dashboard`);
  });

  it("NOT_FOUND for another organization's satellite, and nothing is woken", async () => {
    const other = await org(db);
    const theirs = await satelliteIn(db, other.id, "asleep");
    const { error } = await open(method, theirs.name).done;
    expect(error?.code).toBe(status.NOT_FOUND);
    expect((await db.satellite.findUniqueOrThrow({ where: { id: theirs.id } })).state).toBe("asleep");
  });
});

describe("ReserveSatellite and WakeSatellite on a failed satellite", () => {
  it("Reserve (a build) does not retry a broken machine: ABORTED with its reason", async () => {
    const s = await satelliteIn(db, orgId, "failed");
    await db.satellite.update({ where: { id: s.id }, data: { failureReason: "disk full" } });
    const stream = open("ReserveSatellite", s.name);
    const { error } = await stream.done;
    expect(stream.statuses).toEqual([]);
    expect(error?.code).toBe(status.ABORTED);
    expect(error?.details).toBe(`satellite "${s.name}" failed: disk full; retry it with \`earthly sat wake\` or from the dashboard`);
    expect((await db.satellite.findUniqueOrThrow({ where: { id: s.id } })).state).toBe("failed");
  });

  it("Wake (a person) retries it: STARTING, OPERATIONAL, EOF", async () => {
    const s = await db.satellite.update({ where: { id: (await satelliteIn(db, orgId, "failed")).id }, data: { instanceId: "local-0a1b2c3d4e5f" } });
    const stream = open("WakeSatellite", s.name);
    expect(await stream.seen(1)).toEqual([S.STARTING]);
    await move(db, s.id, "awake");
    expect(await stream.done).toEqual({ error: null });
    expect(stream.statuses).toEqual([S.STARTING, S.OPERATIONAL]);
  });

  it("Wake of one whose launch failed before it had a machine launches it again: CREATING, OPERATIONAL, EOF", async () => {
    const s = await satelliteIn(db, orgId, "failed");
    const stream = open("WakeSatellite", s.name);
    expect(await stream.seen(1)).toEqual([S.CREATING]);
    await move(db, s.id, "awake");
    expect(await stream.done).toEqual({ error: null });
    expect(stream.statuses).toEqual([S.CREATING, S.OPERATIONAL]);
  });
});

describe("SleepSatellite", () => {
  it("a satellite that falls asleep while the stream opens ends it SLEEP, never waiting for a change already made", async () => {
    const rounds = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const s = await satelliteIn(db, orgId, "stopping");
        const stream = open("SleepSatellite", s.name);
        await new Promise((r) => setTimeout(r, i % 6));
        await move(db, s.id, "asleep");
        return Promise.race([stream.done.then((d) => d.error?.code ?? "EOF"), new Promise((r) => setTimeout(() => r("still open after 5 s"), 5_000))]);
      }),
    );
    expect(rounds).toEqual(Array(24).fill("EOF"));
  });

  it("awake → OPERATIONAL, STOPPING, SLEEP, EOF", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const stream = open("SleepSatellite", s.name);
    expect(await stream.seen(2)).toEqual([S.OPERATIONAL, S.STOPPING]);
    const stop = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: s.id, to: "stopping" } });
    expect(stop).toMatchObject({ cause: "manual", actor: `token:${member.apiTokenId}` });
    await move(db, s.id, "asleep");
    expect(await stream.done).toEqual({ error: null });
    expect(stream.statuses).toEqual([S.OPERATIONAL, S.STOPPING, S.SLEEP]);
  });

  it("asleep → SLEEP, EOF", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const stream = open("SleepSatellite", s.name);
    expect(await stream.done).toEqual({ error: null });
    expect(stream.statuses).toEqual([S.SLEEP]);
  });

  it("a satellite kept awake by a running build ends the stream with the reason", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const stream = open("SleepSatellite", s.name);
    await stream.seen(2);
    await move(db, s.id, "awake");
    const { error } = await stream.done;
    expect(stream.statuses).toEqual([S.OPERATIONAL, S.STOPPING, S.OPERATIONAL]);
    expect(error?.code).toBe(status.FAILED_PRECONDITION);
    expect(error?.details).toContain("in use and stays awake");
  });

  it("refuses a satellite that is still starting", async () => {
    const s = await satelliteIn(db, orgId, "starting");
    const { error } = await open("SleepSatellite", s.name).done;
    expect(error?.code).toBe(status.FAILED_PRECONDITION);
  });
});

describe("revocation ends open streams within 5 s, as it ends the proxy's calls", () => {
  const cases: Array<[string, (p: Person) => Promise<unknown>]> = [
    ["the API token revoked", (p) => db.apiToken.update({ where: { id: p.apiTokenId }, data: { revokedAt: new Date() } })],
    ["its creator removed from the organization", (p) => db.member.deleteMany({ where: { organizationId: orgId, userId: p.userId } })],
  ];
  for (const method of ["ReserveSatellite", "WakeSatellite", "SleepSatellite"] as const) {
    it.each(cases)(`${method}: %s → UNAUTHENTICATED; another member's stream goes on`, async (_what, revoke) => {
      const doomed = await person(db, orgId, "member");
      const other = await person(db, orgId, "member");
      // A stream that keeps waiting: waking (Reserve/Wake), or falling asleep (Sleep).
      const s = await satelliteIn(db, orgId, method === "SleepSatellite" ? "stopping" : "asleep");
      const victim = open(method, s.name, doomed);
      const bystander = open(method, s.name, other);
      await victim.seen(1);
      await bystander.seen(1);
      const t0 = Date.now();
      await revoke(doomed);
      const { error } = await victim.done;
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(error?.code).toBe(status.UNAUTHENTICATED);
      expect(error?.details).toMatch(/revoked/);
      // The other member's stream is untouched: it still ends at its goal.
      await move(db, s.id, method === "SleepSatellite" ? "asleep" : "awake");
      expect(await bystander.done).toEqual({ error: null });
    });
  }
});
