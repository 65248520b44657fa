import { afterAll, describe, expect, it } from "vitest";
import { makeOrg, testDb } from "@satellites/testing";
import { generateToken, hashToken, looksLikeToken, touchToken, verifyToken } from "../src/index.ts";

const db = testDb();
afterAll(() => db.$disconnect());

describe("api tokens", () => {
  it("are random, well-formed and stored only as a hash", async () => {
    const a = generateToken();
    const b = generateToken();
    expect(a.token).not.toBe(b.token);
    expect(looksLikeToken(a.token)).toBe(true);
    expect(a.hash).toBe(hashToken(a.token));
    expect(a.hash).not.toContain(a.token.slice(4));
    const org = await makeOrg(db);
    await db.apiToken.create({ data: { orgId: org.id, name: "ci", prefix: a.prefix, hash: a.hash } });
    const stored = await db.apiToken.findFirstOrThrow({ where: { orgId: org.id } });
    expect(JSON.stringify(stored)).not.toContain(a.token);
    expect(await verifyToken(db, a.token)).toMatchObject({ orgId: org.id });
  });

  it("refuses revoked, expired, unknown and malformed tokens", async () => {
    const org = await makeOrg(db);
    const revoked = generateToken();
    const expired = generateToken();
    await db.apiToken.create({ data: { orgId: org.id, name: "r", prefix: revoked.prefix, hash: revoked.hash, revokedAt: new Date() } });
    await db.apiToken.create({ data: { orgId: org.id, name: "e", prefix: expired.prefix, hash: expired.hash, expiresAt: new Date(Date.now() - 1000) } });
    expect(await verifyToken(db, revoked.token)).toBeNull();
    expect(await verifyToken(db, expired.token)).toBeNull();
    expect(await verifyToken(db, generateToken().token)).toBeNull();
    expect(await verifyToken(db, "sat_short")).toBeNull();
    expect(await verifyToken(db, "x".repeat(10_000))).toBeNull();
  });

  it("records last use at most once a minute", async () => {
    const org = await makeOrg(db);
    const t = generateToken();
    const row = await db.apiToken.create({ data: { orgId: org.id, name: "u", prefix: t.prefix, hash: t.hash } });
    const first = new Date();
    await touchToken(db, row.id, first);
    await touchToken(db, row.id, new Date(first.getTime() + 30_000));
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: row.id } })).lastUsedAt?.getTime()).toBe(first.getTime());
    await touchToken(db, row.id, new Date(first.getTime() + 61_000));
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: row.id } })).lastUsedAt?.getTime()).toBe(first.getTime() + 61_000);
  });

  it("sends no statement for a use this process recorded less than a minute ago", async () => {
    const org = await makeOrg(db);
    const t = generateToken();
    const row = await db.apiToken.create({ data: { orgId: org.id, name: "u", prefix: t.prefix, hash: t.hash } });
    const first = new Date();
    await touchToken(db, row.id, first);
    // Cleared behind its back: a statement sent now would write it again.
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: null } });
    await touchToken(db, row.id, new Date(first.getTime() + 30_000));
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: row.id } })).lastUsedAt).toBeNull();
    await touchToken(db, row.id, new Date(first.getTime() + 61_000));
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: row.id } })).lastUsedAt?.getTime()).toBe(first.getTime() + 61_000);
  });
});
