// satellite.cache / measureCache / resetCache / logs through the API: a reset is for admins, of an
// awake satellite, refused while a build runs (CONFLICT, nothing asked of the jobs process),
// audited and queued otherwise; members read the cache and the daemon's log (a local satellite's
// file, its last KiB; an EC2 satellite gets a note instead); other organizations see nothing.
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Db } from "@satellites/db";
import type { SatelliteQueues } from "@satellites/queue";
import { afterAll, beforeAll, expect, it } from "vitest";
import { addMember, newOrg, outcome, satelliteIn, setup, signUp, teardown, type TestUser } from "./helpers.ts";

let db: Db;
let queues: SatelliteQueues;
let admin: TestUser;
let member: TestUser;
let outsider: TestUser;
let orgId: string;

beforeAll(async () => {
  ({ db, queues } = setup());
  admin = await signUp("admin");
  member = await signUp("member");
  outsider = await signUp("outsider");
  orgId = await newOrg(db);
  await addMember(db, orgId, admin.id, "admin");
  await addMember(db, orgId, member.id, "member");
  await addMember(db, await newOrg(db), outsider.id, "owner");
});
afterAll(teardown);

it("reset: admins only, awake only, refused while a build runs; audited and queued otherwise", async () => {
  const s = await satelliteIn(db, orgId, "awake");
  await db.satellite.update({ where: { id: s.id }, data: { cacheBytes: 123_456_789n, cacheEntries: 12, cacheMeasuredAt: new Date(), limitDiskGiB: 20 } });
  expect(await outcome(member.caller.satellite.resetCache({ id: s.id }))).toBe("FORBIDDEN");
  expect(await outcome(outsider.caller.satellite.resetCache({ id: s.id }))).toBe("NOT_FOUND");
  expect(await outcome(outsider.caller.satellite.cache({ id: s.id }))).toBe("NOT_FOUND");

  const build = randomUUID();
  await db.build.create({ data: { id: build, orgId, satelliteId: s.id, actor: "token:t", client: "buildctl", startedAt: new Date(), replica: "p", seenAt: new Date() } });
  const refused = admin.caller.satellite.resetCache({ id: s.id });
  await expect(refused).rejects.toMatchObject({ code: "CONFLICT", message: "1 build is running on this satellite: reset the cache once it has finished" });
  expect(await queues.cache.getJob(`cache-reset-${s.id}`)).toBeUndefined();
  // With the disk limit the cache is kept under: the card shows the cache's share of it.
  expect(await member.caller.satellite.cache({ id: s.id })).toMatchObject({ bytes: 123_456_789, entries: 12, runningBuilds: 1, limitBytes: 20 * 2 ** 30 });

  await db.build.update({ where: { id: build }, data: { endedAt: new Date(), grpcCode: 0, durationMs: 5 } });
  expect(await admin.caller.satellite.resetCache({ id: s.id })).toEqual({ requested: true });
  const job = await queues.cache.getJob(`cache-reset-${s.id}`);
  expect(job?.data).toEqual({ satelliteId: s.id, action: "reset", actor: `user:${admin.id}` });
  const audit = await db.auditEvent.findFirst({ where: { orgId, action: "satellite.cache.reset", targetId: s.id } });
  expect(audit).toMatchObject({ actor: `user:${admin.id}`, detail: { name: s.name, bytesBefore: 123_456_789 } });

  const asleep = await satelliteIn(db, orgId, "asleep");
  await expect(admin.caller.satellite.resetCache({ id: asleep.id })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
  await expect(member.caller.satellite.measureCache({ id: asleep.id })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
  expect(await member.caller.satellite.measureCache({ id: s.id })).toEqual({ requested: true });
});

it("the card counts the satellite's builds that ran out of disk in the last 7 days (BuildKit's words or a step's), and no others", async () => {
  const s = await satelliteIn(db, orgId, "awake");
  const other = await satelliteIn(db, orgId, "awake");
  const ago = (h: number) => new Date(Date.now() - h * 3600_000);
  const row = (satelliteId: string, startedAt: Date, grpcCode: number, error: string | null, stepOutOfSpace = false) =>
    db.build.create({ data: { id: randomUUID(), orgId, satelliteId, actor: "token:t", client: "buildctl", startedAt, endedAt: new Date(startedAt.getTime() + 1000), durationMs: 1000, grpcCode, error, stepOutOfSpace, replica: "p", seenAt: new Date() } });
  expect((await member.caller.satellite.cache({ id: s.id })).outOfDiskBuilds).toEqual({ count: 0, lastAt: null });
  await row(s.id, ago(30), 8, "write /big.bin: No space left on device");
  await row(s.id, ago(3), 2, 'process "/bin/sh -c npm ci" did not complete successfully: exit code: 228', true);
  // Not counted: older than 7 days, another satellite's, a failure of another kind, a cancelled build.
  await row(s.id, ago(8 * 24), 8, "write /x: no space left on device");
  await row(other.id, ago(1), 8, "write /x: no space left on device");
  await row(s.id, ago(2), 2, 'process "/bin/sh -c make" did not complete successfully: exit code: 2');
  await row(s.id, ago(1), 1, "context canceled", true);
  const { outOfDiskBuilds } = await member.caller.satellite.cache({ id: s.id });
  expect(outOfDiskBuilds.count).toBe(2);
  expect(Math.abs(outOfDiskBuilds.lastAt!.getTime() - ago(3).getTime())).toBeLessThan(5_000);
});

it("logs: a local satellite's last KiB from its file; an EC2 satellite gets a note; bounded input", async () => {
  const s = await satelliteIn(db, orgId, "awake");
  const instanceId = `local-${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  await db.satellite.update({ where: { id: s.id }, data: { instanceId } });
  const dir = path.join(process.env.LOCAL_DATA_DIR ?? ".data/local", instanceId);
  mkdirSync(dir, { recursive: true });
  const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ${"x".repeat(40)}`);
  writeFileSync(path.join(dir, "satellite.log"), `${lines.join("\n")}\n`);
  const tail = await member.caller.satellite.logs({ id: s.id, kib: 1 }).finally(() => rmSync(dir, { recursive: true, force: true }));
  if (!tail.available) throw new Error(tail.note);
  expect(tail.truncated).toBe(true);
  expect(tail.text.length).toBeLessThanOrEqual(1024);
  expect(tail.text.startsWith("line ")).toBe(true);
  expect(tail.text.endsWith("line 199 " + "x".repeat(40) + "\n")).toBe(true);
  expect(await outcome(outsider.caller.satellite.logs({ id: s.id }))).toBe("NOT_FOUND");
  expect(await outcome(member.caller.satellite.logs({ id: s.id, kib: 4096 }))).toBe("BAD_REQUEST");

  const ec2 = await satelliteIn(db, orgId, "awake");
  await db.satellite.update({ where: { id: ec2.id }, data: { provider: "ec2", instanceId: "i-0123456789abcdef0" } });
  const note = await member.caller.satellite.logs({ id: ec2.id });
  expect(note).toMatchObject({ available: false });
  expect(note.available ? "" : note.note).toContain("EC2");
});
