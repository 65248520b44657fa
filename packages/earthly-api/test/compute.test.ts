// api.public.compute.Compute through a real grpc-js client built from our .proto files:
// tenancy, roles, status mapping and the lifecycle intents each RPC records.
import { type ClientDuplexStream, Metadata, status } from "@grpc/grpc-js";
import type { Db } from "@satellites/db";
import { jobIdFor } from "@satellites/queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SatelliteStatus } from "../src/index.ts";
import { timestamp } from "../src/mapping.ts";
import { auth, type Harness, org, person, type Person, PUBLIC_ADDRESS, rejection, satelliteIn, startHarness, unary } from "./fixtures.ts";

let h: Harness;
let db: Db;
let orgA: { id: string };
let orgB: { id: string };
let owner: Person;
let member: Person;
let outsider: Person;

beforeAll(async () => {
  h = await startHarness();
  db = h.db;
  orgA = await org(db);
  orgB = await org(db);
  owner = await person(db, orgA.id, "owner");
  member = await person(db, orgA.id, "member");
  outsider = await person(db, orgB.id, "owner");
});
afterAll(() => h.close());

const call = (method: string, req: object, who: Person) => unary(h.compute, method, req, auth(who.token));

describe("Compute: who may call", () => {
  it("refuses a missing, unknown or revoked token with UNAUTHENTICATED (the CLI logs in again)", async () => {
    const none = await rejection(unary(h.compute, "ListSatellites", { org_id: orgA.id }, new Metadata()));
    expect(none.code).toBe(status.UNAUTHENTICATED);
    const unknown = await rejection(unary(h.compute, "ListSatellites", { org_id: orgA.id }, auth("satl_" + "x".repeat(40))));
    expect(unknown.code).toBe(status.UNAUTHENTICATED);
    const leaving = await person(db, orgA.id, "admin");
    expect(await call("ListSatellites", { org_id: orgA.id }, leaving)).toMatchObject({ instances: expect.any(Array) });
    await db.apiToken.update({ where: { id: leaving.apiTokenId }, data: { revokedAt: new Date() } });
    expect((await rejection(call("ListSatellites", { org_id: orgA.id }, leaving))).code).toBe(status.UNAUTHENTICATED);
  });

  it("answers NOT_FOUND for another organization and its satellites, whatever the name", async () => {
    const theirs = await satelliteIn(db, orgB.id, "awake");
    const otherOrg = await rejection(call("ListSatellites", { org_id: orgB.id }, owner));
    expect(otherOrg.code).toBe(status.NOT_FOUND);
    const intoOurs = await rejection(call("ListSatellites", { org_id: orgA.id }, outsider));
    expect(intoOurs.code).toBe(status.NOT_FOUND);
    const viaTheirOrg = await rejection(call("GetSatellite", { org_id: orgB.id, name: theirs.name }, owner));
    expect(viaTheirOrg.code).toBe(status.NOT_FOUND);
    const viaOurOrg = await rejection(call("GetSatellite", { org_id: orgA.id, name: theirs.name }, owner));
    expect(viaOurOrg.code).toBe(status.NOT_FOUND);
    expect(viaOurOrg.details).toBe(`satellite "${theirs.name}" not found`);
    expect((await rejection(call("DeleteSatellite", { org_id: orgA.id, name: theirs.name, force: true }, owner))).code).toBe(status.NOT_FOUND);
    expect((await db.satellite.findUniqueOrThrow({ where: { id: theirs.id } })).state).toBe("awake");
  });

  it("lets members read but only admins and owners launch, resize and delete", async () => {
    const s = await satelliteIn(db, orgA.id, "asleep");
    expect(await call("GetSatellite", { org_id: orgA.id, name: s.name }, member)).toMatchObject({ status: SatelliteStatus.SLEEP });
    for (const [m, req] of [
      ["LaunchSatellite", { org_id: orgA.id, name: "by-member", size: "small", platform: "linux/amd64" }],
      ["UpdateSatellite", { org_id: orgA.id, name: s.name, size: "large", platform: "linux/amd64" }],
      ["DeleteSatellite", { org_id: orgA.id, name: s.name, force: true }],
    ] as const) {
      const e = await rejection(call(m, req, member));
      expect(e.code, m).toBe(status.PERMISSION_DENIED);
      expect(e.details).toMatch(/^only admins and owners can /);
    }
    expect(await db.satellite.findFirst({ where: { orgId: orgA.id, name: "by-member" } })).toBeNull();
    expect(await db.satellite.findUniqueOrThrow({ where: { id: s.id } })).toMatchObject({ state: "asleep", size: "small" });
  });
});

describe("Compute: reads", () => {
  it("ListSatellites lists this organization's live satellites with Earthly's platform, size and status", async () => {
    const o = await org(db);
    const p = await person(db, o.id, "member");
    const awake = await satelliteIn(db, o.id, "awake", "b-awake");
    await satelliteIn(db, o.id, "asleep", "a-asleep");
    const gone = await satelliteIn(db, o.id, "deleted", "c-gone");
    await db.satellite.update({ where: { id: gone.id }, data: { liveName: null, deletedAt: new Date() } });
    await db.satellite.update({ where: { id: awake.id }, data: { lastActivityAt: new Date("2026-01-02T03:04:05.678Z") } });
    const res = await call("ListSatellites", { org_id: o.id }, p);
    const instances = res.instances as Record<string, unknown>[];
    expect(instances.map((i) => [i.name, i.status, i.platform, i.size])).toEqual([
      ["a-asleep", SatelliteStatus.SLEEP, "linux/amd64", "small"],
      ["b-awake", SatelliteStatus.OPERATIONAL, "linux/amd64", "small"],
    ]);
    expect(instances[1]!.last_used).toEqual({ seconds: String(Date.parse("2026-01-02T03:04:05Z") / 1000), nanos: 678_000_000 });
    // Never used: its creation, not null (which the CLI prints as "Last Used: 1970-01-01").
    const created = (await db.satellite.findFirstOrThrow({ where: { orgId: o.id, name: "a-asleep" } })).createdAt;
    expect(instances[0]!.last_used).toEqual(timestamp(created));
    expect((await call("GetSatellite", { org_id: o.id, name: "a-asleep" }, p)).last_used).toEqual(timestamp(created));
    expect(instances[1]!.specs).toMatchObject({ platform: "linux/amd64", vcpus: 2, memory_gib: 4, size: "small" });
  });

  it("GetSatellite maps every state onto SatelliteStatus and gives the proxy as satellite_address, without a certificate", async () => {
    const expected = {
      creating: SatelliteStatus.CREATING,
      awake: SatelliteStatus.OPERATIONAL,
      stopping: SatelliteStatus.STOPPING,
      asleep: SatelliteStatus.SLEEP,
      starting: SatelliteStatus.STARTING,
      updating: SatelliteStatus.UPDATING,
      deleting: SatelliteStatus.DESTROYING,
      failed: SatelliteStatus.FAILED,
    } as const;
    for (const [state, st] of Object.entries(expected)) {
      const s = await satelliteIn(db, orgA.id, state as keyof typeof expected);
      const res = await call("GetSatellite", { org_id: orgA.id, name: s.name }, member);
      expect(res, state).toMatchObject({ status: st, id: s.id, platform: "linux/amd64", size: "small", is_managed: true, satellite_address: PUBLIC_ADDRESS });
      expect(res.certificate).toBeNull();
    }
  });

  it("rejects a malformed name with INVALID_ARGUMENT", async () => {
    const e = await rejection(call("GetSatellite", { org_id: orgA.id, name: "Not A Name!" }, member));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/lowercase letters, digits and dashes/);
  });
});

describe("Compute: changes", () => {
  it("LaunchSatellite creates the satellite in creating with Earthly's size and platform, and enqueues its launch", async () => {
    const res = await call("LaunchSatellite", { org_id: orgA.id, name: "launched-arm", size: "large", platform: "linux/arm64" }, owner);
    expect(res).toMatchObject({ status: SatelliteStatus.CREATING });
    const row = await db.satellite.findFirstOrThrow({ where: { orgId: orgA.id, liveName: "launched-arm" } });
    expect(row).toMatchObject({ state: "creating", size: "large", platform: "arm64", provider: "local" });
    const events = await db.satelliteEvent.findMany({ where: { satelliteId: row.id } });
    expect(events).toEqual([expect.objectContaining({ from: null, to: "creating", cause: "launch", actor: `token:${owner.apiTokenId}` })]);
    expect(await h.queues.queues.launch.getJobCounts("waiting", "delayed", "prioritized")).toMatchObject({ waiting: 1 });
    // The CLI retries a launch that got UNAVAILABLE or INTERNAL (up to 10 times): the same launch
    // again, from the same token, moments later, is answered as done, not ALREADY_EXISTS.
    expect(await call("LaunchSatellite", { org_id: orgA.id, name: "launched-arm", size: "large", platform: "linux/arm64" }, owner)).toMatchObject({ status: SatelliteStatus.CREATING });
    expect(await db.satelliteEvent.count({ where: { satelliteId: row.id } })).toBe(1);
    expect(await h.queues.queues.launch.getJobCounts("waiting", "delayed", "prioritized")).toMatchObject({ waiting: 1 });
    const again = await rejection(call("LaunchSatellite", { org_id: orgA.id, name: "launched-arm", size: "small" }, owner));
    expect(again.code).toBe(status.ALREADY_EXISTS);
    const someoneElse = await person(db, orgA.id, "admin");
    const theirs = await rejection(call("LaunchSatellite", { org_id: orgA.id, name: "launched-arm", size: "large", platform: "linux/arm64" }, someoneElse));
    expect(theirs.code).toBe(status.ALREADY_EXISTS);
    const defaults = await call("LaunchSatellite", { org_id: orgA.id, name: "launched-default" }, owner);
    expect(defaults).toMatchObject({ status: SatelliteStatus.CREATING });
    expect(await db.satellite.findFirstOrThrow({ where: { orgId: orgA.id, liveName: "launched-default" } })).toMatchObject({ size: "medium", platform: "amd64" });
  });

  it("launch, resize and delete through the CLI are in the organization's audit log, with the token and the client's address", async () => {
    await call("LaunchSatellite", { org_id: orgA.id, name: "audited", size: "small", platform: "linux/amd64" }, owner);
    const row = await db.satellite.findFirstOrThrow({ where: { orgId: orgA.id, liveName: "audited" } });
    const asleep = await satelliteIn(db, orgA.id, "asleep");
    await call("UpdateSatellite", { org_id: orgA.id, name: asleep.name, size: "large", platform: "linux/amd64" }, owner);
    const gone = await satelliteIn(db, orgA.id, "asleep");
    await call("DeleteSatellite", { org_id: orgA.id, name: gone.name }, owner);
    const audit = await db.auditEvent.findMany({ where: { orgId: orgA.id, targetId: { in: [row.id, asleep.id, gone.id] } }, orderBy: { at: "asc" } });
    expect(audit.map((a) => a.action)).toEqual(["satellite.create", "satellite.resize", "satellite.delete"]);
    for (const a of audit) expect(a).toMatchObject({ actor: `token:${owner.apiTokenId}`, ip: "127.0.0.1" });
    expect(audit[1]!.detail).toMatchObject({ size: { from: "small", to: "large" }, via: "earthly" });
  });

  it("LaunchSatellite refuses sizes and platforms we do not offer, clearly, and writes nothing", async () => {
    for (const [size, platform, msg] of [
      ["2xlarge", "linux/amd64", "size 2xlarge is not offered here; choose one of xsmall, small, medium, large, xlarge"],
      ["4xlarge", "linux/amd64", "size 4xlarge is not offered here"],
      ["huge", "linux/amd64", 'unknown size "huge"'],
      ["small", "windows/amd64", 'unknown platform "windows/amd64"; choose one of linux/amd64, linux/arm64'],
    ]) {
      const e = await rejection(call("LaunchSatellite", { org_id: orgA.id, name: "refused-size", size, platform }, owner));
      expect(e.code).toBe(status.INVALID_ARGUMENT);
      expect(e.details).toContain(msg);
    }
    expect(await db.satellite.findFirst({ where: { orgId: orgA.id, name: "refused-size" } })).toBeNull();
  });

  // `--cloud` and `--maintenance-weekends-only` were dropped without a word (the satellite made
  // on our provider, daily); a hostile size was echoed whole into grpc-message.
  it("LaunchSatellite refuses what it cannot honour (another cloud, weekend-only maintenance) and echoes a long size cut short", async () => {
    for (const [extra, msg] of [
      [{ cloud_name: "my-byoc" }, "clouds are not offered here"],
      [{ maintenance_weekends_only: true }, "maintenance windows are not offered here"],
      [{ size: "x".repeat(100_000) }, 'unknown size "xxxx'],
      [{ platform: "p".repeat(100_000) }, 'unknown platform "pppp'],
    ] as const) {
      const e = await rejection(call("LaunchSatellite", { org_id: orgA.id, name: "refused-extra", size: "small", platform: "linux/amd64", ...extra }, owner));
      expect(e.code).toBe(status.INVALID_ARGUMENT);
      expect(e.details).toContain(msg);
      expect(e.details.length).toBeLessThan(400);
    }
    expect(await db.satellite.findFirst({ where: { orgId: orgA.id, name: "refused-extra" } })).toBeNull();
  });

  it("UpdateSatellite resizes an asleep satellite through updating, refuses an awake one, and says what it cannot do", async () => {
    const asleep = await satelliteIn(db, orgA.id, "asleep");
    expect(await call("UpdateSatellite", { org_id: orgA.id, name: asleep.name, size: "medium", platform: "linux/amd64" }, owner)).toEqual({});
    expect(await db.satellite.findUniqueOrThrow({ where: { id: asleep.id } })).toMatchObject({ state: "updating", size: "medium" });
    expect(await h.queues.queues.resize.getJob(jobIdFor("resize", { satelliteId: asleep.id, version: asleep.version + 1 }))).toBeDefined();
    // The CLI retrying it (or the same asked again) while it runs: done, not "nothing to change".
    expect(await call("UpdateSatellite", { org_id: orgA.id, name: asleep.name, size: "medium", platform: "linux/amd64" }, owner)).toEqual({});
    expect(await db.satellite.findUniqueOrThrow({ where: { id: asleep.id } })).toMatchObject({ state: "updating", version: asleep.version + 1 });

    const awake = await satelliteIn(db, orgA.id, "awake");
    const e = await rejection(call("UpdateSatellite", { org_id: orgA.id, name: awake.name, size: "medium", platform: "linux/amd64" }, owner));
    expect(e.code).toBe(status.FAILED_PRECONDITION);
    expect(e.details).toMatch(/awake; put it to sleep first/);
    // Nothing to change is said, not answered with the CLI's "Update now running".
    const same = await satelliteIn(db, orgA.id, "asleep");
    const nothing = await rejection(call("UpdateSatellite", { org_id: orgA.id, name: same.name, size: "small", platform: "linux/amd64" }, owner));
    expect(nothing.code).toBe(status.INVALID_ARGUMENT);
    expect(nothing.details).toMatch(/nothing to change: .* is already small on linux\/amd64/);
    expect(await db.satellite.findUniqueOrThrow({ where: { id: same.id } })).toMatchObject({ state: "asleep", version: same.version });
    // The CLI sends a maintenance window only when asked; none is kept here, so it is refused, not dropped.
    for (const extra of [{ maintenance_window_start: "02:00" }, { maintenance_weekends_only: true }]) {
      const w = await rejection(call("UpdateSatellite", { org_id: orgA.id, name: same.name, size: "medium", platform: "linux/amd64", ...extra }, owner));
      expect(w.code).toBe(status.INVALID_ARGUMENT);
      expect(w.details).toMatch(/maintenance windows are not offered here/);
    }
    expect(await db.satellite.findUniqueOrThrow({ where: { id: same.id } })).toMatchObject({ state: "asleep", size: "small" });
    const drop = await rejection(call("UpdateSatellite", { org_id: orgA.id, name: asleep.name, drop_cache: true, platform: "linux/amd64" }, owner));
    expect(drop.code).toBe(status.INVALID_ARGUMENT);
    const big = await rejection(call("UpdateSatellite", { org_id: orgA.id, name: asleep.name, size: "3xlarge", platform: "linux/amd64" }, owner));
    expect(big.code).toBe(status.INVALID_ARGUMENT);
  });

  it("UpdateSatellite keeps an arm64 satellite arm64: the CLI sends --platform linux/amd64 unless told otherwise", async () => {
    const arm = await db.satellite.update({ where: { id: (await satelliteIn(db, orgA.id, "asleep")).id }, data: { platform: "arm64" } });
    expect(await call("UpdateSatellite", { org_id: orgA.id, name: arm.name, size: "medium", platform: "linux/amd64" }, owner)).toEqual({});
    expect(await db.satellite.findUniqueOrThrow({ where: { id: arm.id } })).toMatchObject({ state: "updating", size: "medium", platform: "arm64" });
    // `earthly sat update --force arm-sat` alone (size and platform as they are) changes nothing.
    const other = await db.satellite.update({ where: { id: (await satelliteIn(db, orgA.id, "asleep")).id }, data: { platform: "arm64" } });
    const e = await rejection(call("UpdateSatellite", { org_id: orgA.id, name: other.name, size: "", platform: "linux/amd64" }, owner));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/already small on linux\/arm64.*dashboard/);
    // An amd64 satellite asked for arm64 explicitly still moves.
    const amd = await satelliteIn(db, orgA.id, "asleep");
    expect(await call("UpdateSatellite", { org_id: orgA.id, name: amd.name, size: "", platform: "linux/arm64" }, owner)).toEqual({});
    expect(await db.satellite.findUniqueOrThrow({ where: { id: amd.id } })).toMatchObject({ state: "updating", platform: "arm64" });
  });

  it("DeleteSatellite refuses an awake satellite unless forced, then records the deletion", async () => {
    const awake = await satelliteIn(db, orgA.id, "awake");
    const e = await rejection(call("DeleteSatellite", { org_id: orgA.id, name: awake.name, force: false }, owner));
    expect(e.code).toBe(status.FAILED_PRECONDITION);
    expect(e.details).toContain("awake");
    expect(await call("DeleteSatellite", { org_id: orgA.id, name: awake.name, force: true }, owner)).toEqual({});
    expect(await db.satellite.findUniqueOrThrow({ where: { id: awake.id } })).toMatchObject({ state: "deleting" });
    const asleep = await satelliteIn(db, orgA.id, "asleep");
    expect(await call("DeleteSatellite", { org_id: orgA.id, name: asleep.name }, owner)).toEqual({});
    expect(await db.satellite.findUniqueOrThrow({ where: { id: asleep.id } })).toMatchObject({ state: "deleting" });
  });
});

describe("Billing, log sharing and analytics", () => {
  it("answer without holding anything: a billing plan allowing every size, analytics taken, log sharing acknowledged at its end", async () => {
    const plan = await unary(h.client("Billing"), "GetBillingPlan", { org_name: "anything" }, auth(member.token));
    expect(plan.plan).toMatchObject({ allowed_instances: [1, 2, 3, 4, 5], allowed_archs: [1, 2] });
    expect(await unary(h.client("Analytics"), "SendAnalytics", { key: "k", exit_code: 0 }, auth(""))).toEqual({});
    const logs = h.client("LogStream") as unknown as { StreamLogs(md: Metadata): ClientDuplexStream<object, { eof_ack: boolean }> };
    const stream = logs.StreamLogs(auth(member.token));
    const acks: boolean[] = [];
    stream.on("data", (m) => acks.push(m.eof_ack));
    const ended = new Promise((r) => stream.on("end", r));
    stream.write({ build_id: "b", deltas: [{}] });
    stream.write({ build_id: "b", eof: true });
    await ended;
    expect(acks).toEqual([true]);
  });
});
