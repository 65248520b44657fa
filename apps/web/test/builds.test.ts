// build.list / build.stats: another organization's builds are never listed (by org, satellite
// id or token), filters by satellite, actor, status and time, keyset pages that neither skip nor
// repeat, a running build whose proxy went quiet shows as lost, OOM kills flagged on the builds
// they happened during, and the per-day figures.
import { randomUUID } from "node:crypto";
import type { Db } from "@satellites/db";
import { recordMemoryKills } from "@satellites/state";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, newOrg, outcome, satelliteIn, setup, signUp, teardown, tokenFor, type TestUser } from "./helpers.ts";

let db: Db;
let owner: TestUser;
let outsider: TestUser;
let orgId: string;
let otherOrg: string;

const H = 3_600_000;
const utcMidnight = (d = new Date()) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());

interface Row {
  satelliteId: string;
  org?: string;
  actor?: string;
  at: number;
  ms?: number | null;
  code?: number | null;
  error?: string;
  stepOutOfSpace?: boolean;
  wakeWaitMs?: number;
  seenAgoMs?: number;
}
async function build(r: Row): Promise<string> {
  const id = randomUUID();
  const ended = r.ms === null || r.ms === undefined ? null : new Date(r.at + r.ms);
  await db.build.create({
    data: {
      id, orgId: r.org ?? orgId, satelliteId: r.satelliteId, actor: r.actor ?? "token:t1", client: "buildctl 0.24.0", startedAt: new Date(r.at), endedAt: ended, durationMs: r.ms ?? null,
      bytesUp: 1000n, bytesDown: 10n, grpcCode: ended ? (r.code ?? 0) : null, error: r.error ?? null, stepOutOfSpace: r.stepOutOfSpace ?? false, wakeWaitMs: r.wakeWaitMs ?? null, replica: "proxy-test", seenAt: ended ?? new Date(Date.now() - (r.seenAgoMs ?? 0)),
    },
  });
  return id;
}

beforeAll(async () => {
  ({ db } = setup());
  owner = await signUp("owner");
  outsider = await signUp("outsider");
  orgId = await newOrg(db);
  otherOrg = await newOrg(db);
  await addMember(db, orgId, owner.id, "owner");
  await addMember(db, otherOrg, outsider.id, "owner");
});
afterAll(teardown);

describe("build.list", () => {
  it("lists only the caller's organization: never another org's builds, by any id", async () => {
    const mine = await satelliteIn(db, orgId, "awake");
    const theirs = await satelliteIn(db, otherOrg, "awake");
    const a = await build({ satelliteId: mine.id, at: Date.now() - 60_000, ms: 1000 });
    const b = await build({ satelliteId: theirs.id, org: otherOrg, at: Date.now() - 60_000, ms: 1000 });
    const list = await owner.caller.build.list({ orgId });
    expect(list.items.map((i) => i.id)).toContain(a);
    expect(list.items.map((i) => i.id)).not.toContain(b);
    // Their org, their satellite, or their satellite under my org id: not found, nothing listed.
    expect(await outcome(owner.caller.build.list({ orgId: otherOrg }))).toBe("NOT_FOUND");
    expect(await outcome(owner.caller.build.list({ satelliteId: theirs.id }))).toBe("NOT_FOUND");
    expect(await outcome(owner.caller.build.list({ orgId, satelliteId: theirs.id }))).toBe("NOT_FOUND");
    expect(await outcome(owner.caller.build.stats({ satelliteId: theirs.id }))).toBe("NOT_FOUND");
    // Their token sees their build only, and my org is not found to it.
    const token = await tokenFor(db, otherOrg, outsider.id);
    const viaToken = await token.caller.build.list({});
    expect(viaToken.items.map((i) => i.id)).toEqual([b]);
    expect(await outcome(token.caller.build.list({ orgId }))).toBe("NOT_FOUND");
  });

  it("filters by satellite, actor, status and time; pages neither skip nor repeat; a quiet running build is lost", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const s1 = await satelliteIn(db, org, "awake");
    const s2 = await satelliteIn(db, org, "awake");
    const now = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push(await build({ org, satelliteId: i % 2 ? s1.id : s2.id, actor: i % 3 ? "token:t1" : "user:u1", at: now - (i + 10) * 60_000, ms: 1000 + i, code: i % 5 === 0 ? 2 : 0, ...(i % 5 === 0 ? { error: `step ${i}: no space left on device` } : {}) }));
    const running = await build({ org, satelliteId: s1.id, at: now - 5_000, seenAgoMs: 500 });
    const lost = await build({ org, satelliteId: s1.id, at: now - 3 * H, seenAgoMs: 10 * 60_000 });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof owner.caller.build.list>> = await owner.caller.build.list({ orgId: org, limit: 7, cursor });
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(27);
    expect(new Set(seen).size).toBe(27);

    const bySat = await owner.caller.build.list({ orgId: org, satelliteId: s2.id, limit: 200 });
    expect(bySat.items.every((i) => i.satelliteId === s2.id)).toBe(true);
    expect(bySat.items).toHaveLength(13);
    const byActor = await owner.caller.build.list({ orgId: org, actor: "user:u1", limit: 200 });
    expect(byActor.items).toHaveLength(9);
    const failed = await owner.caller.build.list({ orgId: org, status: ["failed"], limit: 200 });
    expect(failed.items).toHaveLength(5);
    // Each with why it failed, as the proxy recorded it.
    expect(failed.items[0]).toMatchObject({ status: "failed", grpcStatus: "UNKNOWN", error: "step 0: no space left on device" });
    expect(failed.items.every((b) => b.error?.endsWith(": no space left on device"))).toBe(true);
    const live = await owner.caller.build.list({ orgId: org, status: ["running"] });
    expect(live.items.map((i) => i.id)).toEqual([running]);
    expect(live.items[0]!.durationMs).toBeGreaterThanOrEqual(4000);
    expect((await owner.caller.build.list({ orgId: org, status: ["lost"] })).items.map((i) => i.id)).toEqual([lost]);
    const window = await owner.caller.build.list({ orgId: org, from: new Date(now - 15 * 60_000), to: new Date(now - 9 * 60_000), limit: 200 });
    expect(window.items).toHaveLength(6);

    expect(await outcome(owner.caller.build.list({ orgId: org, actor: "robert'); drop" }))).toBe("BAD_REQUEST");
    expect(await outcome(owner.caller.build.list({ orgId: org, status: ["exploded" as "failed"] }))).toBe("BAD_REQUEST");
    expect(await outcome(owner.caller.build.list({ orgId: org, cursor: "nonsense" }))).toBe("BAD_REQUEST");
    expect(await outcome(owner.caller.build.list({ orgId: org, from: new Date(now), to: new Date(now - 1) }))).toBe("BAD_REQUEST");
  });

  it("diskFull: a failed build whose BuildKit message or step output said the disk was full, and only a failed one", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const sat = await satelliteIn(db, org, "awake");
    const at = Date.now() - 60_000;
    const copy = await build({ org, satelliteId: sat.id, at, ms: 10, code: 8, error: "write /big.bin: no space left on device" });
    const step = await build({ org, satelliteId: sat.id, at: at + 1, ms: 10, code: 2, error: 'process "/bin/sh -c npm ci" did not complete successfully: exit code: 228', stepOutOfSpace: true });
    const plain = await build({ org, satelliteId: sat.id, at: at + 2, ms: 10, code: 2, error: 'process "/bin/sh -c make" did not complete successfully: exit code: 2' });
    const cancelled = await build({ org, satelliteId: sat.id, at: at + 3, ms: 10, code: 1, error: "context canceled", stepOutOfSpace: true });
    const ok = await build({ org, satelliteId: sat.id, at: at + 4, ms: 10, code: 0 });
    const items = (await owner.caller.build.list({ orgId: org })).items;
    const full = new Map(items.map((i) => [i.id, i.diskFull]));
    expect([copy, step, plain, cancelled, ok].map((id) => full.get(id))).toEqual([true, true, false, false, false]);
  });

  it("wakeWaitMs: how long a build waited for its satellite to wake, as the proxy recorded it; null when it did not", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const sat = await satelliteIn(db, org, "awake");
    const woke = await build({ org, satelliteId: sat.id, at: Date.now() - 60_000, ms: 1000, wakeWaitMs: 2400 });
    const warm = await build({ org, satelliteId: sat.id, at: Date.now() - 30_000, ms: 1000 });
    const items = new Map((await owner.caller.build.list({ orgId: org })).items.map((i) => [i.id, i]));
    expect(items.get(woke)).toMatchObject({ wakeWaitMs: 2400, durationMs: 1000 });
    expect(items.get(warm)!.wakeWaitMs).toBeNull();
  });
});

describe("OOM kills", () => {
  it("a kill reported twice at once is one history event naming the running build; build.list flags it; the history says it in words and filters by it; the timeline keeps the state", async () => {
    const sat = await satelliteIn(db, orgId, "awake");
    const theirs = await satelliteIn(db, otherOrg, "awake");
    await db.satelliteEvent.create({ data: { satelliteId: sat.id, orgId, from: "starting", to: "awake", cause: "request", actor: "system", startedAt: new Date(Date.now() - 10 * 60_000), finishedAt: new Date(Date.now() - 10 * 60_000) } });
    const killedAt = Date.now() - 60_000;
    const running = await build({ satelliteId: sat.id, at: killedAt - 5_000, ms: 6_000, code: 2 });
    const before = await build({ satelliteId: sat.id, at: killedAt - 120_000, ms: 1_000 });
    // Two builds that ended a second before the kill (the kernel's clock and the proxy's may
    // differ that much): the failed one may be the one it ended; the one that passed was not.
    const failedJustBefore = await build({ satelliteId: sat.id, at: killedAt - 3_000, ms: 2_000, code: 2 });
    const passedJustBefore = await build({ satelliteId: sat.id, at: killedAt - 3_000, ms: 2_000, code: 0 });
    const kill = { id: `${randomUUID()}:42`, at: new Date(killedAt), process: "busybox", hostWide: false };
    // Two jobs processes read the same kill from the kernel log at the same moment.
    const recorded = await Promise.all([0, 1].map(() => recordMemoryKills(db, { satelliteId: sat.id, limitMiB: 256, kills: [kill] })));
    expect(recorded.filter(Boolean)).toHaveLength(1);
    expect(recorded.find(Boolean)).toMatchObject({ kills: 1, processes: ["busybox"] });
    expect(new Set(recorded.find(Boolean)!.builds)).toEqual(new Set([running, failedJustBefore]));
    // Reported again later (a restarted reader) together with a new, host-wide one: only that one is added.
    const hostWide = { id: `${randomUUID()}:7`, at: new Date(), process: null, hostWide: true };
    expect(await recordMemoryKills(db, { satelliteId: sat.id, limitMiB: 256, kills: [kill, hostWide] })).toMatchObject({ kills: 1, killIds: [hostWide.id], hostWide: true, builds: [] });
    expect(await recordMemoryKills(db, { satelliteId: theirs.id, limitMiB: 512, kills: [{ ...kill, id: `${randomUUID()}:1` }] })).not.toBeNull();

    const list = await owner.caller.build.list({ orgId, satelliteId: sat.id });
    expect(list.items.find((b) => b.id === running)?.memoryKills).toBe(1);
    expect(list.items.find((b) => b.id === before)?.memoryKills).toBe(0);
    expect(list.items.find((b) => b.id === passedJustBefore)?.memoryKills).toBe(0);

    const history = await owner.caller.history.list({ orgId, satelliteId: sat.id, cause: ["memory"] });
    expect(history.items.map((e) => e.note)).toEqual([
      "Out of memory: killed 1 process, the host ran out of memory",
      "Out of memory: killed busybox, at the 256 MiB memory limit during 2 builds",
    ]);
    expect(history.items.map((e) => [e.from, e.to, e.cause, e.error])).toEqual([["awake", "awake", "memory", null], ["awake", "awake", "memory", null]]);
    expect(history.items[1]!.finishedAt.getTime()).toBe(killedAt);
    // Another organization's kill is never listed here.
    expect((await owner.caller.history.list({ orgId, cause: ["memory"] })).items.every((e) => e.satelliteId !== theirs.id)).toBe(true);
    // The timeline is cut by state changes only: a kill is no state.
    const timeline = await owner.caller.history.timeline({ satelliteId: sat.id, days: 1 });
    const changes = await db.satelliteEvent.count({ where: { satelliteId: sat.id, cause: { not: "memory" } } });
    expect(timeline.intervals).toHaveLength(changes);
    expect(timeline.intervals.map((i) => i.start.getTime())).not.toContain(killedAt);
  });
});

describe("OOM kills recorded before their build", () => {
  // The kernel reports a kill at once; the proxy writes build records every second. A short
  // build killed for memory (dd in a RUN step) was recorded after its kill, and nothing marked it.
  it("a build whose record is written after the kill's event is still marked, and the history counts it", async () => {
    const sat = await satelliteIn(db, orgId, "awake");
    const killedAt = Date.now() - 30_000;
    const kill = { id: `${randomUUID()}:9`, at: new Date(killedAt), process: "busybox", hostWide: false };
    expect(await recordMemoryKills(db, { satelliteId: sat.id, limitMiB: 256, kills: [kill] })).toMatchObject({ kills: 1, builds: [] });
    // Then the proxy's records: the build the kill ended, one running through it, one after it.
    const killed = await build({ satelliteId: sat.id, at: killedAt - 800, ms: 1_000, code: 2, error: 'process "/bin/busybox dd" did not complete successfully: exit code: 137' });
    const through = await build({ satelliteId: sat.id, at: killedAt - 5_000, seenAgoMs: 0 });
    const after = await build({ satelliteId: sat.id, at: killedAt + 5_000, ms: 1_000, code: 2 });

    const list = await owner.caller.build.list({ orgId, satelliteId: sat.id });
    expect(list.items.find((b) => b.id === killed)?.memoryKills).toBe(1);
    expect(list.items.find((b) => b.id === through)?.memoryKills).toBe(1);
    expect(list.items.find((b) => b.id === after)?.memoryKills).toBe(0);
    const history = await owner.caller.history.list({ orgId, satelliteId: sat.id, cause: ["memory"] });
    expect(history.items.map((e) => e.note)).toEqual(["Out of memory: killed busybox, at the 256 MiB memory limit during 2 builds"]);
  });

  // The proxy writes a build's end a moment after its Solve answered (the session's last bytes
  // are counted first, then the next flush): a build that passed a second before a kill can
  // still look running when the kill is recorded. Seen in the browser suite: the build before
  // the one dd killed was marked "out of memory", and the history said "during 2 builds".
  it("a build named by the kill while its end was not yet written is not marked once its record says it passed before the kill", async () => {
    const sat = await satelliteIn(db, orgId, "awake");
    const killedAt = Date.now() - 30_000;
    const passed = await build({ satelliteId: sat.id, at: killedAt - 2_000, seenAgoMs: 0 });
    const killed = await build({ satelliteId: sat.id, at: killedAt - 500, seenAgoMs: 0 });
    const kill = { id: `${randomUUID()}:11`, at: new Date(killedAt), process: "busybox", hostWide: false };
    expect(new Set((await recordMemoryKills(db, { satelliteId: sat.id, limitMiB: 256, kills: [kill] }))!.builds)).toEqual(new Set([passed, killed]));
    // Their ends, as the proxy writes them a moment later: one passed before the kill, dd's failed after it.
    await db.build.update({ where: { id: passed }, data: { endedAt: new Date(killedAt - 1_200), durationMs: 800, grpcCode: 0, seenAt: new Date(killedAt - 1_200) } });
    await db.build.update({ where: { id: killed }, data: { endedAt: new Date(killedAt + 100), durationMs: 600, grpcCode: 2, seenAt: new Date(killedAt + 100) } });

    const list = await owner.caller.build.list({ orgId, satelliteId: sat.id });
    expect(list.items.find((b) => b.id === passed)?.memoryKills).toBe(0);
    expect(list.items.find((b) => b.id === killed)?.memoryKills).toBe(1);
    const history = await owner.caller.history.list({ orgId, satelliteId: sat.id, cause: ["memory"] });
    expect(history.items.map((e) => e.note)).toEqual(["Out of memory: killed busybox, at the 256 MiB memory limit during a build"]);
  });
});

describe("build.stats", () => {
  it("counts builds per UTC day with duration percentiles; other calls summed", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const s = await satelliteIn(db, org, "awake");
    const y = utcMidnight() - 24 * H;
    for (const [at, ms, code] of [[y + H, 1000, 0], [y + 2 * H, 3000, 0], [y + 3 * H, 5000, 2], [y + 4 * H, 7000, 1]] as const) await build({ org, satelliteId: s.id, at, ms, code });
    await db.callStat.create({ data: { orgId: org, satelliteId: s.id, minute: new Date(y + H), method: "/moby.buildkit.v1.Control/Session", actor: "token:t1", client: "x", calls: 7, failed: 1, bytesUp: 5n, bytesDown: 6n, totalMs: 70n } });
    const st = await owner.caller.build.stats({ orgId: org, days: 2 });
    expect(st.days.map((d) => d.day)).toEqual([new Date(y).toISOString().slice(0, 10), new Date(utcMidnight()).toISOString().slice(0, 10)]);
    expect(st.days[0]).toEqual({ day: new Date(y).toISOString().slice(0, 10), builds: 4, succeeded: 2, failed: 1, cancelled: 1, p50DurationMs: 4000, p95DurationMs: 6700, totalDurationMs: 16000 });
    expect(st.days[1]).toMatchObject({ builds: 0, p50DurationMs: null });
    expect(st).toMatchObject({ builds: 4, succeeded: 2, failed: 1, cancelled: 1, running: 0, p50DurationMs: 4000, bytesUp: 4000, calls: { calls: 7, failed: 1, bytesUp: 5, bytesDown: 6 } });
    expect((await owner.caller.build.stats({ satelliteId: s.id, days: 2 })).builds).toBe(4);
    const actors = await owner.caller.build.actors({ orgId: org });
    expect(actors.map((a) => a.actor)).toEqual(["token:t1"]);
  });

  it("names a certificate actor by its certificate, or by the label the proxy recorded once it is gone", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const s = await satelliteIn(db, org, "awake");
    const cert = await db.clientCertificate.create({ data: { orgId: org, satelliteId: s.id, name: "ci-runner", serial: randomUUID(), fingerprint: randomUUID(), expiresAt: new Date(Date.now() + 86_400_000) } });
    await build({ org, satelliteId: s.id, actor: `certificate:${cert.id}`, at: Date.now() - 1000, ms: 10 });
    const gone = randomUUID();
    const id = await build({ org, satelliteId: s.id, actor: `certificate:${gone}`, at: Date.now() - 2000, ms: 10 });
    await db.build.update({ where: { id }, data: { actorLabel: "old-runner" } });
    const list = await owner.caller.build.list({ orgId: org });
    expect(list.items.map((b) => b.actorLabel)).toEqual(['certificate "ci-runner"', "old-runner"]);
  });
});
