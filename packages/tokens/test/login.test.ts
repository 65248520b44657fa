import { randomUUID } from "node:crypto";
import type { Db } from "@satellites/db";
import { makeOrg, testDb } from "@satellites/testing";
import { afterAll, describe, expect, it } from "vitest";
import { generateToken, hashToken, issueLoginToken, LOGIN_TOKEN_TTL_MS, looksLikeToken, verifyToken } from "../src/index.ts";

const db = testDb();
afterAll(() => db.$disconnect());

async function person(db: Db, orgId: string, role = "member"): Promise<string> {
  const id = randomUUID();
  await db.user.create({ data: { id, name: "p", email: `${id}@example.test` } });
  await db.member.create({ data: { id: randomUUID(), organizationId: orgId, userId: id, role } });
  return id;
}

async function apiToken(orgId: string, createdById: string | null, expiresAt: Date | null = null) {
  const t = generateToken();
  const row = await db.apiToken.create({ data: { orgId, createdById, name: "cli", prefix: t.prefix, hash: t.hash, expiresAt } });
  return row;
}

describe("login tokens", () => {
  it("are short-lived, stored only hashed, and verify as the API token they came from", async () => {
    const org = await makeOrg(db);
    const userId = await person(db, org.id);
    const api = await apiToken(org.id, userId);
    const now = new Date();
    const grant = await issueLoginToken(db, api, now);
    expect(grant.token).toMatch(/^satl_[0-9A-Za-z]{40}$/);
    expect(looksLikeToken(grant.token)).toBe(true);
    expect(grant.expiresAt.getTime()).toBe(now.getTime() + LOGIN_TOKEN_TTL_MS);
    const rows = await db.loginToken.findMany({ where: { apiTokenId: api.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.hash).toBe(hashToken(grant.token));
    expect(JSON.stringify(rows)).not.toContain(grant.token);
    expect(await verifyToken(db, grant.token)).toEqual({ tokenId: api.id, orgId: org.id, scopes: [], createdById: userId, stopsAt: grant.expiresAt });
  });

  it("never outlive their API token, and stop at their own expiry", async () => {
    const org = await makeOrg(db);
    const userId = await person(db, org.id);
    const soon = new Date(Date.now() + 60_000);
    const api = await apiToken(org.id, userId, soon);
    const grant = await issueLoginToken(db, api);
    expect(grant.expiresAt).toEqual(soon);
    expect(await verifyToken(db, grant.token, new Date(soon.getTime() + 1))).toBeNull();
  });

  it("end when the API token is revoked", async () => {
    const org = await makeOrg(db);
    const api = await apiToken(org.id, await person(db, org.id));
    const grant = await issueLoginToken(db, api);
    expect(await verifyToken(db, grant.token)).not.toBeNull();
    await db.apiToken.update({ where: { id: api.id }, data: { revokedAt: new Date() } });
    expect(await verifyToken(db, grant.token)).toBeNull();
  });

  it("end when the token's creator leaves the organization or the account is deleted", async () => {
    const org = await makeOrg(db);
    const leaver = await person(db, org.id);
    const a = await issueLoginToken(db, await apiToken(org.id, leaver));
    await db.member.deleteMany({ where: { organizationId: org.id, userId: leaver } });
    expect(await verifyToken(db, a.token)).toBeNull();

    const deleted = await person(db, org.id);
    const b = await issueLoginToken(db, await apiToken(org.id, deleted));
    await db.user.delete({ where: { id: deleted } });
    expect(await verifyToken(db, b.token)).toBeNull();
  });

  it("refuses unknown and malformed login tokens, and drops expired logins of a token on the next login", async () => {
    expect(await verifyToken(db, "satl_" + "a".repeat(40))).toBeNull();
    expect(await verifyToken(db, "satl_short")).toBeNull();
    const org = await makeOrg(db);
    const api = await apiToken(org.id, await person(db, org.id));
    const old = await issueLoginToken(db, api, new Date(Date.now() - 2 * LOGIN_TOKEN_TTL_MS));
    expect(await verifyToken(db, old.token)).toBeNull();
    await issueLoginToken(db, api);
    expect(await db.loginToken.count({ where: { apiTokenId: api.id } })).toBe(1);
  });
});
