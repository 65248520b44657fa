// Client certificates through the tRPC API: issued by admins (signed in) only, the bundle in the
// issue answer and never again, listed with what is kept, revoked by admins, every issue and
// revoke in the audit log, other tenants' certificates invisible.
import { X509Certificate } from "node:crypto";
import type { Db } from "@satellites/db";
import { subjectFromAltNames } from "@satellites/client-certs/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, newOrg, outcome, satelliteIn, setup, signUp, teardown, tokenFor, type TestUser } from "./helpers.ts";

let db: Db;
let admin: TestUser;
let member: TestUser;
let outsider: TestUser;
let orgId: string;

beforeAll(async () => {
  ({ db } = setup());
  [admin, member, outsider] = await Promise.all([signUp("cert-admin"), signUp("cert-member"), signUp("cert-outsider")]);
  orgId = await newOrg(db, "certs");
  await addMember(db, orgId, admin.id, "admin");
  await addMember(db, orgId, member.id, "member");
  const other = await newOrg(db, "other");
  await addMember(db, other, outsider.id, "owner");
});
afterAll(teardown);

describe("satellite.issueCertificate", () => {
  it("a satellite holds at most 100 usable certificates (revoked and expired ones do not count)", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const row = (i: number, extra: object = {}) => ({ orgId, satelliteId: s.id, createdById: admin.id, name: `c${i}`, serial: `${s.id}-${i}`, fingerprint: `fp-${s.id}-${i}`, expiresAt: new Date(Date.now() + 86_400_000), ...extra });
    await db.clientCertificate.createMany({ data: Array.from({ length: 98 }, (_, i) => row(i)) });
    await db.clientCertificate.createMany({ data: [row(900, { revokedAt: new Date() }), row(901, { expiresAt: new Date(Date.now() - 1000) })] });
    const tries = await Promise.all(Array.from({ length: 4 }, (_, i) => outcome(admin.caller.satellite.issueCertificate({ id: s.id, name: `late-${i}` }))));
    expect(tries.sort()).toEqual(["FORBIDDEN", "FORBIDDEN", "OK", "OK"]);
    await expect(admin.caller.satellite.issueCertificate({ id: s.id, name: "one more" })).rejects.toThrow(/100 client certificates in use, the most one satellite may have; revoke unused ones first/);
    expect((await admin.caller.satellite.certificates({ id: s.id })).filter((c) => c.status === "active")).toHaveLength(100);
  });

  it("gives the bundle once: CA, certificate for this satellite (URI SAN), key; 90 days by default", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const r = await admin.caller.satellite.issueCertificate({ id: s.id, name: "ci runner" });
    const x = new X509Certificate(r.bundle.certPem);
    expect(subjectFromAltNames(x.subjectAltName)).toEqual({ orgId, satelliteId: s.id });
    const days = (new Date(x.validTo).getTime() - Date.now()) / 86_400_000;
    expect(Math.round(days)).toBe(90);
    expect(r.bundle.caPem).toMatch(/BEGIN CERTIFICATE/);
    expect(r.bundle.keyPem).toMatch(/BEGIN PRIVATE KEY/);
    expect(r.certificate).toMatchObject({ name: "ci runner", serial: x.serialNumber.toLowerCase() });
    // Ready-to-paste setups come with it, for this satellite.
    expect(r.setups.buildctl).toContain(`$HOME/.satellites/${s.name}/client.pem`);

    // Listed afterwards with what is kept — never the key or the certificate itself.
    const list = await member.caller.satellite.certificates({ id: s.id });
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: r.certificate.id, name: "ci runner", status: "active", fingerprint: r.certificate.fingerprint, createdBy: { id: admin.id }, canRevoke: false });
    const keyBody = r.bundle.keyPem.split("\n")[1]!;
    expect(JSON.stringify(list)).not.toContain(keyBody);
    expect(JSON.stringify(await admin.caller.satellite.certificates({ id: s.id }))).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    expect(JSON.stringify(await admin.caller.satellite.get({ id: s.id }))).not.toContain(keyBody);

    const audit = await db.auditEvent.findMany({ where: { orgId, action: "certificate.issue", targetId: r.certificate.id } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: `user:${admin.id}`, targetType: "certificate" });
    expect(audit[0]!.detail).toMatchObject({ name: "ci runner", satellite: s.name, serial: r.certificate.serial, fingerprint: r.certificate.fingerprint });
    expect(JSON.stringify(audit[0]!.detail)).not.toContain(keyBody);
  });

  it("is for admins and owners, signed in: members FORBIDDEN, API tokens FORBIDDEN, other orgs NOT_FOUND", async () => {
    const s = await satelliteIn(db, orgId, "awake");
    expect(await outcome(member.caller.satellite.issueCertificate({ id: s.id, name: "x" }))).toBe("FORBIDDEN");
    const token = await tokenFor(db, orgId, admin.id);
    expect(await outcome(token.caller.satellite.issueCertificate({ id: s.id, name: "x" }))).toBe("FORBIDDEN");
    expect(await outcome(outsider.caller.satellite.issueCertificate({ id: s.id, name: "x" }))).toBe("NOT_FOUND");
    expect(await outcome(outsider.caller.satellite.certificates({ id: s.id }))).toBe("NOT_FOUND");
    expect(await db.clientCertificate.count({ where: { satelliteId: s.id } })).toBe(0);
  });

  it("refuses more than a year, a fraction of a day, an empty or oversized name: 400 with the reason, nothing stored", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    await expect(admin.caller.satellite.issueCertificate({ id: s.id, name: "x", expiresInDays: 366 })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/at most 365 days/) });
    await expect(admin.caller.satellite.issueCertificate({ id: s.id, name: "x", expiresInDays: 1.5 })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(admin.caller.satellite.issueCertificate({ id: s.id, name: "" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(admin.caller.satellite.issueCertificate({ id: s.id, name: "n".repeat(65) })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    const r = await admin.caller.satellite.issueCertificate({ id: s.id, name: "year", expiresInDays: 365 });
    expect(Math.round((new Date(r.certificate.expiresAt).getTime() - Date.now()) / 86_400_000)).toBe(365);
    expect(await db.clientCertificate.count({ where: { satelliteId: s.id } })).toBe(1);
  });

  it("a deleted satellite gets no certificate", async () => {
    const s = await satelliteIn(db, orgId, "deleted");
    expect(await outcome(admin.caller.satellite.issueCertificate({ id: s.id, name: "x" }))).toBe("NOT_FOUND");
  });
});

describe("satellite.revokeCertificate", () => {
  it("admins revoke (once, audited); members cannot; other tenants see NOT_FOUND", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const { certificate } = await admin.caller.satellite.issueCertificate({ id: s.id, name: "to revoke" });
    expect(await outcome(member.caller.satellite.revokeCertificate({ certificateId: certificate.id }))).toBe("FORBIDDEN");
    expect(await outcome(outsider.caller.satellite.revokeCertificate({ certificateId: certificate.id }))).toBe("NOT_FOUND");
    expect(await outcome(admin.caller.satellite.revokeCertificate({ certificateId: "00000000-0000-0000-0000-000000000000" }))).toBe("NOT_FOUND");
    const r = await admin.caller.satellite.revokeCertificate({ certificateId: certificate.id });
    expect(r.revokedAt).toBeInstanceOf(Date);
    const again = await admin.caller.satellite.revokeCertificate({ certificateId: certificate.id });
    expect(again.revokedAt).toEqual(r.revokedAt);
    const [row] = await admin.caller.satellite.certificates({ id: s.id });
    expect(row).toMatchObject({ status: "revoked", canRevoke: false });
    const audit = await db.auditEvent.findMany({ where: { action: "certificate.revoke", targetId: certificate.id } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ orgId, actor: `user:${admin.id}` });
  });

  it("an admin's API token may revoke (taking access away is safe), never issue", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const { certificate } = await admin.caller.satellite.issueCertificate({ id: s.id, name: "token revokes" });
    const token = await tokenFor(db, orgId, admin.id);
    expect((await token.caller.satellite.revokeCertificate({ certificateId: certificate.id })).revokedAt).toBeInstanceOf(Date);
    expect((await db.auditEvent.findFirstOrThrow({ where: { action: "certificate.revoke", targetId: certificate.id } })).actor).toBe(`token:${token.id}`);
  });
});
