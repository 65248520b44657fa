// Satellite procedures end to end against Postgres and Redis: what each records, which job it
// enqueues, and what a person is told when a request cannot be honoured.
import { randomUUID } from "node:crypto";
import type { Db } from "@satellites/db";
import { jobIdFor, type SatelliteQueues } from "@satellites/queue";
import { announce, transition } from "@satellites/state";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, newOrg, satelliteIn, setup, signUp, teardown, tokenFor, type TestUser } from "./helpers.ts";

let db: Db;
let queues: SatelliteQueues;
let owner: TestUser;
let orgId: string;

beforeAll(async () => {
  ({ db, queues } = setup());
  owner = await signUp("owner");
  orgId = await newOrg(db);
  await addMember(db, orgId, owner.id, "owner");
});
afterAll(teardown);

async function error(p: Promise<unknown>): Promise<TRPCError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TRPCError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

describe("satellite.create", () => {
  it("records the satellite in creating with its first event, and enqueues the launch", async () => {
    const s = await owner.caller.satellite.create({ orgId, name: "main", size: "large", platform: "arm64", idleTimeoutSeconds: 600 });
    expect(s).toMatchObject({ name: "main", state: "creating", size: "large", platform: "arm64", hibernate: false, provider: "local" });
    expect(s.limits).toMatchObject({ idleTimeoutSeconds: 600, memoryMiB: Math.floor(16384 * 0.9), cpuPercent: 95 });
    expect(s.specs).toMatchObject({ vcpu: 4, instanceType: "t4g.xlarge" });
    // The built-in local satellite is not given a disk limit: the page says so.
    expect(s.diskLimitEnforced).toBe(false);
    // Until the jobs process finds otherwise, the OOM score counts as applied.
    expect(s.oomScoreEnforced).toBe(true);
    await db.satellite.update({ where: { id: s.id }, data: { limitsOomScoreEnforced: false } });
    expect((await owner.caller.satellite.get({ id: s.id })).oomScoreEnforced).toBe(false);
    const events = await db.satelliteEvent.findMany({ where: { satelliteId: s.id } });
    expect(events).toMatchObject([{ from: null, to: "creating", cause: "launch", actor: `user:${owner.id}` }]);
    const job = await queues.launch.getJob(jobIdFor("launch", { satelliteId: s.id, version: 0 }));
    expect(job?.data).toEqual({ satelliteId: s.id, version: 0 });
  });

  it("refuses a duplicate name with CONFLICT and invalid names with a readable message", async () => {
    await owner.caller.satellite.create({ orgId, name: "dup" });
    const dup = await error(owner.caller.satellite.create({ orgId, name: "dup" }));
    expect(dup.code).toBe("CONFLICT");
    expect(dup.message).toBe('A satellite named "dup" already exists in this organization');
    const bad = await error(owner.caller.satellite.create({ orgId, name: "Not OK!" }));
    expect(bad.code).toBe("BAD_REQUEST");
    const size = await error(owner.caller.satellite.create({ orgId, name: "ok", size: "huge" as never }));
    expect(size.code).toBe("BAD_REQUEST");
  });

  it("a deleted satellite's name can be used again", async () => {
    const s = await owner.caller.satellite.create({ orgId, name: "reuse" });
    await db.satellite.update({ where: { id: s.id }, data: { state: "deleted", liveName: null, deletedAt: new Date() } });
    await expect(owner.caller.satellite.create({ orgId, name: "reuse" })).resolves.toMatchObject({ name: "reuse" });
  });
});

describe("satellite.list", () => {
  it("pages by name, filters, counts by state, and hides deleted satellites", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    for (const n of ["c", "a", "e", "b", "d"]) await owner.caller.satellite.create({ orgId: org, name: `n-${n}` });
    const gone = await owner.caller.satellite.create({ orgId: org, name: "n-gone" });
    await db.satellite.update({ where: { id: gone.id }, data: { state: "deleted", liveName: null } });
    const p1 = await owner.caller.satellite.list({ orgId: org, limit: 2 });
    expect(p1.items.map((s) => s.name)).toEqual(["n-a", "n-b"]);
    expect(p1.counts).toEqual({ creating: 5 });
    const p2 = await owner.caller.satellite.list({ orgId: org, limit: 2, cursor: p1.nextCursor });
    expect(p2.items.map((s) => s.name)).toEqual(["n-c", "n-d"]);
    const p3 = await owner.caller.satellite.list({ orgId: org, limit: 2, cursor: p2.nextCursor });
    expect(p3.items.map((s) => s.name)).toEqual(["n-e"]);
    expect(p3.nextCursor).toBeNull();
    expect((await owner.caller.satellite.list({ orgId: org, search: "D" })).items.map((s) => s.name)).toEqual(["n-d"]);
    expect((await owner.caller.satellite.list({ orgId: org, state: ["awake"] })).items).toEqual([]);
  });

  it("uses the token's organization when orgId is omitted", async () => {
    const t = await tokenFor(db, orgId, owner.id);
    const page = await t.caller.satellite.list();
    expect(page.items.every((s) => s.orgId === orgId)).toBe(true);
  });
});

describe("wake, sleep, delete", () => {
  it("wake: asleep → starting with the wake job; awake stays awake", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const r = await owner.caller.satellite.wake({ id: s.id });
    expect(r).toMatchObject({ outcome: "waking", satellite: { state: "starting" } });
    expect(await queues.wake.getJob(jobIdFor("wake", { satelliteId: s.id, version: r.satellite.version }))).toBeTruthy();
    const awake = await satelliteIn(db, orgId, "awake");
    await expect(owner.caller.satellite.wake({ id: awake.id })).resolves.toMatchObject({ outcome: "awake" });
    const [ev] = await db.satelliteEvent.findMany({ where: { satelliteId: s.id, to: "starting" } });
    expect(ev).toMatchObject({ cause: "manual", actor: `user:${owner.id}` });
  });

  it("sleep: awake → stopping with the sleep job; refused while creating", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const r = await owner.caller.satellite.sleep({ id: s.id });
    expect(r.satellite.state).toBe("stopping");
    expect(await queues.sleep.getJob(jobIdFor("sleep", { satelliteId: s.id, version: r.satellite.version }))).toBeTruthy();
    const c = await satelliteIn(db, orgId, "creating");
    const e = await error(owner.caller.satellite.sleep({ id: c.id }));
    expect(e.code).toBe("PRECONDITION_FAILED");
    expect(e.message).toBe("Cannot sleep while creating");
  });

  it("delete: refused while awake unless forced", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const e = await error(owner.caller.satellite.delete({ id: s.id }));
    expect(e).toMatchObject({ code: "PRECONDITION_FAILED" });
    expect(e.message).toMatch(/^Satellite is awake/);
    await expect(owner.caller.satellite.delete({ id: s.id, force: true })).resolves.toMatchObject({ state: "deleting" });
    const asleep = await satelliteIn(db, orgId, "asleep");
    await expect(owner.caller.satellite.delete({ id: asleep.id })).resolves.toMatchObject({ state: "deleting" });
  });

  it("a deleted satellite can be read (state deleted) but not acted on", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    await db.satellite.update({ where: { id: s.id }, data: { state: "deleted", liveName: null } });
    await expect(owner.caller.satellite.get({ id: s.id })).resolves.toMatchObject({ state: "deleted" });
    expect((await error(owner.caller.satellite.wake({ id: s.id }))).code).toBe("NOT_FOUND");
    expect((await error(owner.caller.satellite.setLimits({ id: s.id, limits: { cpuPercent: 50 } }))).code).toBe("NOT_FOUND");
    expect((await error(owner.caller.satellite.delete({ id: s.id }))).code).toBe("NOT_FOUND");
  });
});

describe("satellite.update (size/platform)", () => {
  it("needs the satellite asleep, or force", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const e = await error(owner.caller.satellite.update({ id: s.id, size: "large" }));
    expect(e.code).toBe("PRECONDITION_FAILED");
    expect(e.message).toMatch(/put it to sleep first, or pass force: true/);
    const starting = await satelliteIn(db, orgId, "starting");
    expect((await error(owner.caller.satellite.update({ id: starting.id, size: "large" }))).message).toBe("Cannot change the size while the satellite is starting");
  });

  it("asleep: moves to updating with the new size, a fitted memory limit and its event, and enqueues the resize", async () => {
    const s = await satelliteIn(db, orgId, "asleep"); // small, memory limit 4096 MiB (all of it)
    const r = await owner.caller.satellite.update({ id: s.id, size: "xsmall", platform: "arm64" });
    expect(r).toMatchObject({ state: "updating", size: "xsmall", platform: "arm64" });
    expect(r.limits.memoryMiB).toBe(Math.floor(2048 * 0.9));
    const row = await db.satellite.findUniqueOrThrow({ where: { id: s.id } });
    expect(row).toMatchObject({ state: "updating", size: "xsmall", platform: "arm64", limitMemoryMiB: 1843, version: s.version + 1 });
    const event = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: s.id }, orderBy: { id: "desc" } });
    expect(event).toMatchObject({ from: "asleep", to: "updating", cause: "manual", actor: `user:${owner.id}` });
    expect(event.detail).toMatchObject({ size: { from: "small", to: "xsmall" }, platform: { from: "amd64", to: "arm64" }, memoryMiB: { from: 4096, to: 1843 } });
    const job = await queues.resize.getJob(jobIdFor("resize", { satelliteId: s.id, version: row.version }));
    expect(job?.data).toEqual({ satelliteId: s.id, version: row.version });
    // Now updating: another change waits for this one.
    expect((await error(owner.caller.satellite.update({ id: s.id, size: "large" }))).message).toBe("Cannot change the size while the satellite is updating");
  });

  it("awake with force: asks for the sleep and records the resize to follow it", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const r = await owner.caller.satellite.update({ id: s.id, size: "large", force: true });
    expect(r).toMatchObject({ state: "stopping", size: "small" });
    const event = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: s.id }, orderBy: { id: "desc" } });
    expect(event).toMatchObject({ from: "awake", to: "stopping", cause: "manual", detail: { resizeSize: "large", resizePlatform: "amd64" } });
    expect(await queues.sleep.getJob(jobIdFor("sleep", { satelliteId: s.id, version: s.version + 1 }))).toBeTruthy();
  });

  it("needs something to change, and is a no-op when nothing differs", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    expect((await error(owner.caller.satellite.update({ id: s.id }))).message).toBe("size: Pass a new size and/or platform");
    await expect(owner.caller.satellite.update({ id: s.id, size: "small" })).resolves.toMatchObject({ size: "small" });
  });
});

describe("satellite.setLimits", () => {
  it("merges, validates against the size, saves as pending and enqueues applyLimits", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const r = await owner.caller.satellite.setLimits({ id: s.id, limits: { cpuPercent: 50, memoryMiB: 2048 } });
    expect(r.limits).toMatchObject({ cpuPercent: 50, memoryMiB: 2048, diskGiB: 100 });
    expect(r.limitsPending).toBe(true);
    const jobs = await queues.applyLimits.getJobs(["waiting", "delayed", "prioritized"]);
    expect(jobs.some((j) => j.data.satelliteId === s.id)).toBe(true);
  });

  it("explains what is wrong, in the size's terms", async () => {
    const s = await satelliteIn(db, orgId, "asleep"); // small: 4096 MiB
    const e = await error(owner.caller.satellite.setLimits({ id: s.id, limits: { memoryMiB: 999999, cpuPercent: 100 } }));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.message).toContain("CPU must be at most 95 % for a small satellite");
    expect(e.message).toContain("Memory must be at most 4096 MiB for a small satellite");
    const unknown = await error(owner.caller.satellite.setLimits({ id: s.id, limits: { gpu: 1 } as never }));
    expect(unknown.code).toBe("BAD_REQUEST");
  });
});

/** `p`, or a clear failure once `ms` have passed. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not come within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** Ends a watch; bounded, since a generator still waiting for its first event ends only after it. */
async function ended(it: AsyncIterator<unknown>): Promise<void> {
  await within(Promise.resolve(it.return?.()), 1_000, "the end of the watch").catch(() => {});
}

describe("satellite.watch", () => {
  // Each open watch holds a connection and a subscription for as long as its caller likes, and
  // nothing bounded how many one account (or token) held: tens of thousands from one session.
  it("one caller holds at most 32 open watches: the next is refused in words until one closes", async () => {
    const u = await signUp("watcher");
    await addMember(db, orgId, u.id, "member");
    const open: AsyncIterator<unknown>[] = [];
    try {
      for (let i = 0; i < 32; i++) {
        const it = (await u.caller.satellite.watch({ orgId }))[Symbol.asyncIterator]();
        await within(it.next(), 5_000, "a watch's first event");
        open.push(it);
      }
      const over = (await u.caller.satellite.watch({ orgId }))[Symbol.asyncIterator]();
      await expect(within(over.next(), 5_000, "the refusal")).rejects.toThrow(/32 live views open/);
      // Another caller is not affected.
      const theirs = (await owner.caller.satellite.watch({ orgId }))[Symbol.asyncIterator]();
      await within(theirs.next(), 5_000, "another caller's first event");
      await ended(theirs);
      await ended(open.pop()!);
      const again = (await u.caller.satellite.watch({ orgId }))[Symbol.asyncIterator]();
      await within(again.next(), 5_000, "a watch after one closed");
      open.push(again);
    } finally {
      for (const it of open) await ended(it);
    }
  });

  it("streams a snapshot, then committed changes of that satellite only", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const other = await satelliteIn(db, orgId, "asleep");
    const it = (await owner.caller.satellite.watch({ id: s.id }))[Symbol.asyncIterator]();
    try {
      expect((await it.next()).value).toMatchObject({ type: "snapshot", id: s.id, state: "asleep" });
      // The snapshot comes once the subscription is in place: change both satellites at once.
      await transition(db, { satellite: other, to: "starting", cause: "manual", actor: "system" });
      await transition(db, { satellite: s, to: "starting", cause: "manual", actor: "system" });
      const next = await it.next();
      expect(next.value).toMatchObject({ type: "change", id: s.id, from: "asleep", to: "starting", cause: "manual" });
    } finally {
      await it.return?.();
    }
  });

  it("org-wide: every satellite of the organization, none of another", async () => {
    const foreignOrg = await newOrg(db);
    const foreign = await satelliteIn(db, foreignOrg, "asleep");
    const mine = await satelliteIn(db, orgId, "asleep");
    const it = (await owner.caller.satellite.watch({ orgId }))[Symbol.asyncIterator]();
    try {
      expect((await within(it.next(), 5_000, "the stream's first event")).value).toEqual({ type: "resync" });
      await transition(db, { satellite: foreign, to: "starting", cause: "manual", actor: "system" });
      await transition(db, { satellite: mine, to: "starting", cause: "manual", actor: "system" });
      expect((await it.next()).value).toMatchObject({ type: "change", id: mine.id, orgId });
    } finally {
      await ended(it);
    }
  });

  // The SSE "connected" event is sent before the procedure runs, so a client that re-reads when
  // it connects can miss a change committed before the server subscribed (a page showed the
  // wake's new state but never its history row). The first event comes once the subscription is
  // in place: a change committed right after it is never lost, with no pause in between.
  it("the first event comes once the subscription is in place: a change committed right after it is delivered", async () => {
    for (const input of [{ orgId }, { id: (await satelliteIn(db, orgId, "asleep")).id }]) {
      const s = "id" in input ? await db.satellite.findUniqueOrThrow({ where: { id: input.id } }) : await satelliteIn(db, orgId, "asleep");
      const it = (await owner.caller.satellite.watch(input))[Symbol.asyncIterator]();
      try {
        const first = (await within(it.next(), 5_000, "the stream's first event")).value as { type: string };
        expect(first.type).toBe("id" in input ? "snapshot" : "resync");
        await transition(db, { satellite: s, to: "starting", cause: "manual", actor: "system" });
        expect((await within(it.next(), 5_000, "the change")).value).toMatchObject({ type: "change", id: s.id, to: "starting" });
      } finally {
        await ended(it);
      }
    }
  });

  // Postgres delivers an announcement to the server's LISTEN connection a moment after its commit:
  // one committed just before a stream subscribed can arrive after the stream's first event, when
  // the client has already read newer state. Sent on, it would take the client back (a satellite
  // shown stopping again after its snapshot said asleep; a script waiting for awake fooled by the
  // wake before last). A satellite's changes in a stream never go back in version.
  it("an announcement older than what the first event stood for, delivered late, is not sent", async () => {
    for (const byId of [true, false]) {
      const s = await satelliteIn(db, orgId, "asleep");
      const it = (await owner.caller.satellite.watch(byId ? { id: s.id } : { orgId }))[Symbol.asyncIterator]();
      try {
        await within(it.next(), 5_000, "the stream's first event");
        // As the LISTEN connection would hand over one in flight: the sleep before this state.
        await db.$transaction((tx) => announce(tx, { id: s.id, orgId, from: "awake", to: "stopping", version: s.version - 1, cause: "idle", at: new Date(Date.now() - 2_000).toISOString() }));
        await transition(db, { satellite: s, to: "starting", cause: "manual", actor: "system" });
        expect((await within(it.next(), 5_000, "the change")).value).toMatchObject({ type: "change", id: s.id, to: "starting", version: s.version + 1 });
      } finally {
        await ended(it);
      }
    }
  });

  it("announcements of the current version still arrive: the same state with news (a purged cache, a new address)", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const it = (await owner.caller.satellite.watch({ id: s.id }))[Symbol.asyncIterator]();
    try {
      await within(it.next(), 5_000, "the stream's first event");
      await db.$transaction((tx) => announce(tx, { id: s.id, orgId, from: "awake", to: "awake", version: s.version, cause: "reconcile", at: new Date().toISOString(), upstream: "127.0.0.1:2" }));
      expect((await within(it.next(), 5_000, "the announcement")).value).toMatchObject({ type: "change", id: s.id, to: "awake", version: s.version, upstream: "127.0.0.1:2" });
    } finally {
      await ended(it);
    }
  });
});

describe("actors", () => {
  it("a token's actions are recorded as the token", async () => {
    const t = await tokenFor(db, orgId, owner.id);
    const s = await t.caller.satellite.create({ orgId, name: `tok-${randomUUID().slice(0, 6)}` });
    const [ev] = await db.satelliteEvent.findMany({ where: { satelliteId: s.id } });
    expect(ev!.actor).toBe(`token:${t.id}`);
    const page = await owner.caller.history.list({ satelliteId: s.id });
    expect(page.items[0]).toMatchObject({ actorKind: "token", actorLabel: expect.stringMatching(/^token "t-sat_/) });
  });
});

describe("satellite.get and the satellite's address", () => {
  it("never shows members where the satellite listens; admins see it marked internal", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    const member = await signUp("member");
    await addMember(db, orgId, member.id, "member");
    const admin = await signUp("admin");
    await addMember(db, orgId, admin.id, "admin");
    const asMember = await member.caller.satellite.get({ id: s.id });
    expect(JSON.stringify(asMember)).not.toContain("127.0.0.1:1");
    expect(asMember.internal).toBeNull();
    const list = await member.caller.satellite.list({ orgId });
    expect(JSON.stringify(list)).not.toContain("127.0.0.1:1");
    const asAdmin = await admin.caller.satellite.get({ id: s.id });
    expect(asAdmin.internal).toMatchObject({ upstream: "127.0.0.1:1", note: expect.stringMatching(/internal/) });
  });
});
