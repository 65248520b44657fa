// A change and its audit record commit together or not at all: when the record cannot be
// written, the change does not stand either, so a retry is not refused ("already deleting")
// with no record of the first attempt ever written. A trigger makes the audit insert fail for one
// satellite only (other files share the database).
import { randomUUID } from "node:crypto";
import type { Db } from "@satellites/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, newOrg, satelliteIn, setup, signUp, teardown, type TestUser } from "./helpers.ts";

let db: Db;
let admin: TestUser;
let orgId: string;
const fn = `audit_fails_${randomUUID().replace(/-/g, "").slice(0, 12)}`;

beforeAll(async () => {
  ({ db } = setup());
  admin = await signUp("auditor");
  orgId = await newOrg(db, "atomic");
  await addMember(db, orgId, admin.id, "admin");
});
afterAll(async () => {
  await db.$executeRawUnsafe(`DROP TRIGGER IF EXISTS ${fn} ON audit_event`);
  await db.$executeRawUnsafe(`DROP FUNCTION IF EXISTS ${fn}()`);
  await teardown();
});

/** From now on, an audit record about `satelliteId` fails to insert. */
async function auditFailsFor(satelliteId: string): Promise<void> {
  await db.$executeRawUnsafe(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger AS $$ BEGIN IF NEW."targetId" = '${satelliteId}' THEN RAISE EXCEPTION 'audit store unavailable'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
  await db.$executeRawUnsafe(`DROP TRIGGER IF EXISTS ${fn} ON audit_event`);
  await db.$executeRawUnsafe(`CREATE TRIGGER ${fn} BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
}

describe("satellite changes and their audit records", () => {
  it("delete, resize, limits and schedule leave the satellite as it was when the audit record fails", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    await auditFailsFor(sat.id);
    const before = await db.satellite.findUniqueOrThrow({ where: { id: sat.id } });
    await expect(admin.caller.satellite.delete({ id: sat.id })).rejects.toThrow();
    await expect(admin.caller.satellite.update({ id: sat.id, size: "large" })).rejects.toThrow();
    await expect(admin.caller.satellite.setLimits({ id: sat.id, limits: { cpuPercent: 50 } })).rejects.toThrow();
    await expect(admin.caller.satellite.setSchedule({ id: sat.id, schedule: { timeZone: "UTC", windows: [{ days: ["mon"], start: "09:00", end: "17:00" }] } })).rejects.toThrow();
    const after = await db.satellite.findUniqueOrThrow({ where: { id: sat.id } });
    expect(after).toMatchObject({ state: "asleep", size: before.size, version: before.version, limitCpuPercent: before.limitCpuPercent, limitsVersion: before.limitsVersion });
    expect(await db.satelliteEvent.count({ where: { satelliteId: sat.id, to: { in: ["deleting", "updating"] } } })).toBe(0);
    expect(await db.satelliteSchedule.count({ where: { satelliteId: sat.id } })).toBe(0);
  });
});
